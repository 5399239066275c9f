// The technician console's page: uPlot (vendored) draws the waveform; the rest is tables from the JSON API.
"use strict";

const WINDOW_S = 20;
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
const ENTRY_COLOUR = "#d62728";
const EXIT_COLOUR = "#9467bd";

const wave = { t: [], kg: [], entries: [], exits: [], chart: null, platforms: 0, vehicles: null, alerts: null };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function kv(target, pairs) {
  target.replaceChildren();
  for (const [key, value] of pairs) {
    target.append(el("span", key), el("span", value === null || value === undefined ? "—" : value));
  }
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("logged out");
  }
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

// -- the waveform (uPlot) ------------------------------------------------------------------------

function makeChart(platforms) {
  const series = [{ label: "t (s)" }];
  for (let k = 0; k < platforms; k++) {
    series.push({ label: "platform " + (k + 1), stroke: COLOURS[k % COLOURS.length], width: 2,
                  spanGaps: true, points: { show: false } });
  }
  const marker = (label, colour) => ({ label, stroke: colour, paths: () => null,
                                       points: { show: true, size: 11, fill: colour, stroke: colour } });
  series.push(marker("axle entry ▲", ENTRY_COLOUR), marker("axle exit ▼", EXIT_COLOUR));
  const target = document.getElementById("waveform");
  const options = {
    width: Math.max(target.clientWidth, 600), height: 320, series,
    scales: { x: { time: false } },
    axes: [{ label: "s" }, { label: "kg", size: 70 }],
  };
  wave.chart = new uPlot(options, emptyData(platforms), target);
}

function emptyData(platforms) {
  const data = [[]];
  for (let k = 0; k < platforms + 2; k++) data.push([]);
  return data;
}

function redraw() {
  if (!wave.chart) return;
  const latest = wave.t.length ? wave.t[wave.t.length - 1] : 0;
  const from = latest - WINDOW_S;
  let cut = 0;
  while (cut < wave.t.length && wave.t[cut] < from) cut++;
  if (cut) { wave.t.splice(0, cut); for (const k of wave.kg) k.splice(0, cut); }
  wave.entries = wave.entries.filter((t) => t >= from).sort((a, b) => a - b);
  wave.exits = wave.exits.filter((t) => t >= from).sort((a, b) => a - b);
  const tables = [[wave.t, ...wave.kg],
                  [wave.entries, wave.entries.map(() => 0)],
                  [wave.exits, wave.exits.map(() => 0)]];
  wave.chart.setData(uPlot.join(tables));
}

function onWave(frame) {
  if (frame.deck) onDeck(frame.deck, frame.vehicles);  // a static weighbridge: the deck, not a lane
  else onLane(frame);
  if (wave.vehicles !== frame.vehicles) {
    wave.vehicles = frame.vehicles;
    loadRecords();
  }
  if (wave.alerts !== frame.alerts) {  // a watch-list alert was raised: show it now, not at the next poll
    wave.alerts = frame.alerts;
    loadStatus();
  }
}

function onLane(frame) {
  for (let i = 0; i < frame.t.length; i++) {
    if (wave.t.length && frame.t[i] <= wave.t[wave.t.length - 1]) continue;
    wave.t.push(frame.t[i]);
    for (let k = 0; k < wave.platforms; k++) wave.kg[k].push(frame.kg[k][i]);
  }
  for (const event of frame.axles) (event.kind === "entry" ? wave.entries : wave.exits).push(event.t);
  redraw();
  const lane = frame.lane || {};
  kv(document.getElementById("lane"), [
    ["Lane 车道", lane.open_session ? "vehicle " + lane.open_session + " crossing" : "idle"],
    ["On the scale", lane.vehicles_on_scale],
    ["Vehicles so far", frame.vehicles],
    ["Stray exits / ghost sessions", (lane.stray_exits || 0) + " / " + (lane.ghost_sessions || 0)],
  ]);
}

// -- the static weighbridge's deck (uPlot: the indicator's weight) --------------------------------

const DECK_WINDOW_S = 60;
const deck = { t: [], kg: [], chart: null, frame: null };
const WAITING = {
  truck: "a truck to drive on",
  decision: "the decision (plates, record, board and barrier)",
  leave: "the truck to drive off (barrier open)",
  back_off: "the truck to back off (barrier closed)",
  gone: "the truck to leave the deck",
  off_deck: "the truck to move fully onto the deck",
  deck_intrusion: "the deck to clear of people and other vehicles",
  beam_fault: "a position beam to see its reflector",
  position_unknown: "the position beams (controller silent)",
  motion: "a stable weight (the load moves)",
  indicator_motion: "a stable weight (the indicator says motion)",
  window_short: "a stable weight (readings so far too few)",
  gap: "a stable weight (readings missing)",
  no_readings: "the indicator (no readings)",
  stale: "the indicator (silent)",
  no_weight: "a number from the indicator",
  over_range: "the load to come within range",
  under_range: "the load to come within range (under zero)",
};
const POSITION = {
  clear: ["beams clear", "ok"], fully_on: ["fully on the deck", "ok"],
  off_centre: ["OFF-CENTRE: a wheel over an end", "fail"], intrusion: ["someone or something beside the truck", "fail"],
  beam_fault: ["beam fault", "fail"], unknown: ["beams silent", "fail"],
};

function makeDeckChart() {
  const target = document.getElementById("deck-chart");
  const options = {
    width: Math.max(target.clientWidth, 600), height: 260,
    series: [{ label: "t (s)" },
             { label: "weight (kg)", stroke: COLOURS[0], width: 2, points: { show: false } }],
    scales: { x: { time: false } },
    axes: [{ label: "s" }, { label: "kg", size: 70 }],
  };
  deck.chart = new uPlot(options, [[], []], target);
}

function onDeck(d, vehicles) {
  deck.frame = d;
  for (let i = 0; i < d.t.length; i++) {
    if (deck.t.length && d.t[i] <= deck.t[deck.t.length - 1]) continue;
    deck.t.push(d.t[i]);
    deck.kg.push(d.kg[i]);
  }
  if (deck.t.length) {
    const from = deck.t[deck.t.length - 1] - DECK_WINDOW_S;
    let cut = 0;
    while (cut < deck.t.length && deck.t[cut] < from) cut++;
    if (cut) { deck.t.splice(0, cut); deck.kg.splice(0, cut); }
  }
  if (deck.chart) deck.chart.setData([deck.t, deck.kg]);
  document.getElementById("deck-weight").textContent = fmt(d.weight_kg);
  const stability = !d.indicator_fresh ? ["indicator silent", "fail"]
    : d.stable ? ["stable", "ok"] : d.motion ? ["in motion", "warn"] : ["not stable (" + d.stability + ")", "warn"];
  const position = POSITION[d.position] || [d.position, "fail"];
  const line = document.getElementById("deck-line");
  line.replaceChildren(el("span", stability[0], stability[1]), el("span", position[0], position[1]));
  if (d.over_range) line.append(el("span", "OVER RANGE", "fail"));
  line.dataset.stable = String(d.stable);
  line.dataset.position = d.position;
  const visit = d.visit || {};
  kv(document.getElementById("deck-state"), [
    ["Deck 磅台", { idle: "idle", on_deck: "truck on the deck", weighed: "weighed" }[d.state] || d.state],
    ["Waiting for 等待", WAITING[d.waiting_for] || d.waiting_for],
    ["Plate 车牌", visit.plate || (d.visit ? "(not read yet)" : null)],
    ["Visit", visit.visit_id ? visit.visit_id + " (" + visit.pass_kind + ")" : null],
    ["Card", visit.card_id],
    ["Verdict", visit.verdict],
    ["On the deck for", visit.on_deck_s === null || visit.on_deck_s === undefined ? null
      : fmt(visit.on_deck_s, 1) + " s (settle timeout " + fmt(d.settle_timeout_s) + " s)"],
    ["Stable weight", d.stable_weight_kg === null ? null : fmt(d.stable_weight_kg) + " kg"],
    ["Beams blocked / faults", d.beams_blocked === null ? "no report"
      : (d.beams_blocked.join(", ") || "none") + " / " + (d.beam_faults.join(", ") || "none")],
    ["Zero offset", fmt(d.zero_offset_kg, 1) + " kg"],
    ["Vehicles so far", vehicles],
  ]);
}

function connect() {
  const badge = document.getElementById("stream-state");
  const source = new EventSource("/api/stream");
  source.addEventListener("hello", (message) => {
    const hello = JSON.parse(message.data);
    if (hello.deck) {
      document.getElementById("deck").hidden = false;
      document.getElementById("live").hidden = true;
      if (!deck.chart) makeDeckChart();
    } else if (!wave.chart) {
      wave.platforms = hello.platforms;
      wave.kg = Array.from({ length: hello.platforms }, () => []);
      makeChart(hello.platforms);
    }
    badge.textContent = "live " + hello.rate_hz + " Hz";
    badge.className = "badge live";
  });
  source.addEventListener("wave", (message) => onWave(JSON.parse(message.data)));
  source.onerror = () => { badge.textContent = "reconnecting…"; badge.className = "badge"; };
}

// -- records ------------------------------------------------------------------------------------

function fmt(value, digits) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits || 0);
}

async function loadRecords() {
  let data;
  try { data = await api("/api/records?limit=20"); } catch (e) { return; }
  const body = document.querySelector("#records tbody");
  body.replaceChildren();
  for (const r of data.records) {
    const row = el("tr");
    row.dataset.recordId = r.id;
    row.dataset.verdict = r.verdict;
    const crop = el("td");
    if (r.plate_crop) {
      const img = el("img", null, "crop");
      img.src = "/api/records/" + r.id + "/plate.jpg";
      img.alt = "plate crop";
      crop.append(img);
    }
    const dims = r.dimensions ? Object.entries(r.dimensions).filter(([, v]) => typeof v === "number")
      .map(([k, v]) => k + " " + v).join(", ") : "—";
    row.append(el("td", r.seq), el("td", r.time_utc), el("td", r.plate || "(no plate)"), crop,
               el("td", r.vehicle_class || "—"), el("td", r.axle_count),
               el("td", (r.axle_loads_kg || []).map((v) => fmt(v)).join(" · ") || "—"),
               el("td", fmt(r.gross_kg) + " / " + fmt(r.limit_kg)), el("td", dims),
               el("td", r.verdict, "verdict verdict-" + r.verdict),
               el("td", r.latency_ms === null || r.latency_ms === undefined ? "—" : fmt(r.latency_ms) + " ms"));
    row.addEventListener("click", () => {
      const pre = document.getElementById("explanation");
      pre.textContent = (r.explanation || ["(no explanation: the record's text was evicted)"]).join("\n");
      pre.hidden = false;
    });
    body.append(row);
  }
}

// -- watch-list alerts (for the lane staff; the LED board is the drivers') ------------------------

function showAlerts(alerts) {
  const box = document.getElementById("watch-alerts");
  const list = document.getElementById("watch-alert-list");
  list.replaceChildren();
  for (const a of alerts) {
    const item = el("li");
    item.dataset.alertId = a.alert_id;
    const central = a.sent_to_central === null || a.sent_to_central === undefined ? "sending to central…"
      : a.sent_to_central ? "central notified" : "central NOT reached (the record carries it)";
    item.append(el("span", a.raised_utc), el("span", a.plate_read || "(no plate)", "plate"),
                el("span", (a.reasons || []).join("; ")), el("span", " — " + central, "note"));
    list.append(item);
  }
  box.hidden = alerts.length === 0;
}

// -- health --------------------------------------------------------------------------------------

async function loadStatus() {
  let s;
  try { s = await api("/api/status"); } catch (e) { return; }
  document.getElementById("site").textContent = "— site " + s.site_id + " lane " + s.lane;
  showAlerts(Array.isArray(s.watchlist_alerts) ? s.watchlist_alerts : []);
  const devices = document.querySelector("#devices tbody");
  devices.replaceChildren();
  for (const [name, d] of Object.entries((s.health || {}).devices || {})) {
    devices.append(Object.assign(el("tr"), {}));
    devices.lastChild.append(el("td", name), el("td", d.state, d.state === "up" ? "ok" : "fail"),
                             el("td", d.port || d.source || ""), el("td", d.frames_bad ?? "—"),
                             el("td", d.disconnects ?? "—"), el("td", d.last_error || ""));
  }
  const uplink = (s.health || {}).uplink || {};
  const outbox = s.outbox || {};
  const summary = s.summary || {};
  kv(document.getElementById("uplink"), [
    ["Uplink state", uplink.state],
    ["Published", uplink.published],
    ["Refused by the broker", summary.records_refused_by_broker],
    ["Outbox unsent", outbox.unsent],
    ["Oldest unsent queued", outbox.oldest_unsent_queued_utc],
    ["Disk free", summary.disk && summary.disk.free_mb !== undefined ? summary.disk.free_mb + " MB" : null],
    ["Records waiting for disk", summary.records_waiting_for_disk],
  ]);
  const cal = s.calibration;
  kv(document.getElementById("calibration"), cal ? [
    ["Active calibration", cal.calibration_id], ["Made", cal.created_utc], ["Technician", cal.technician],
    ["Method", cal.method], ["Reference weights", cal.reference], ["Valid until", cal.valid_until_utc],
    ["Overdue", cal.overdue ? "YES: recalibrate" : "no"],
  ] : [["Active calibration", "none: the config's spans apply (edge calibrate)"],
       ["Platforms", s.scale.platforms], ["Sample rate", s.scale.sample_rate_hz + " Hz"]]);
  const checks = document.querySelector("#calibration-checks tbody");
  checks.replaceChildren();
  for (const c of (cal && cal.checks) || []) {
    const row = el("tr");
    row.append(el("td", c.platform + 1), el("td", fmt(c.test_weight_kg)), el("td", fmt(c.span_factor, 4)),
               el("td", fmt(c.check_error_kg, 1) + " kg (" + fmt(c.check_error_pct, 2) + " %)"),
               el("td", c.passed ? "yes" : "NO", c.passed ? "ok" : "fail"));
    checks.append(row);
  }
  const history = document.querySelector("#calibration-history tbody");
  history.replaceChildren();
  for (const c of Array.isArray(s.calibration_history) ? s.calibration_history : []) {
    const row = el("tr");
    row.append(el("td", c.calibration_id), el("td", c.created_utc), el("td", c.technician), el("td", c.method),
               el("td", c.valid_until_utc),
               el("td", c.checks_passed ? "passed" : "failed", c.checks_passed ? "ok" : "fail"));
    history.append(row);
  }
  const health = s.health || {};
  const drift = health.drift_monitor || {};
  const zero = health.auto_zero || {};
  kv(document.getElementById("zero-drift"), [
    ["Drift monitor", drift.alarm ? "ALARM: " + (drift.message || "") : "ok (" + (drift.observations || 0) + " vehicles)"],
    ["Drift baseline mean", drift.baseline_mean_kg == null ? null : drift.baseline_mean_kg + " kg"],
    ["Auto-zero", zero.alarm ? "ALARM: " + (zero.last_problem || "") : "ok (" + (zero.updates || 0) + " updates)"],
    ["Zero drift from calibration", zero.zero_drift_from_calibration_kg == null ? null
      : JSON.stringify(zero.zero_drift_from_calibration_kg) + " kg"],
  ]);
  const alarms = document.getElementById("alarms");
  alarms.replaceChildren();
  const found = [];
  if (summary.records_waiting_for_disk) found.push("disk full: " + summary.records_waiting_for_disk + " records wait");
  if (summary.drift_alarm) found.push("WIM drift alarm");
  if (summary.zero_alarm) found.push("zero tracking alarm");
  if (summary.evidence_budget_alarm) found.push("evidence budget alarm");
  if (summary.calibration && summary.calibration.overdue) found.push("calibration overdue");
  if (summary.clock_synchronised === false) found.push("clock not synchronised");
  if (summary.evidence_write_errors) found.push(summary.evidence_write_errors + " evidence write errors");
  for (const a of found.length ? found : ["none"]) alarms.append(el("li", a, found.length ? "fail" : "ok"));
}

async function runDoctor() {
  const button = document.getElementById("run-doctor");
  button.disabled = true;
  try {
    const result = await api("/api/doctor", { method: "POST" });
    const body = document.querySelector("#doctor tbody");
    body.replaceChildren();
    for (const c of result.checks) {
      const row = el("tr");
      row.append(el("td", c.name), el("td", c.ok ? "pass" : "FAIL", c.ok ? "ok" : "fail"),
                 el("td", c.verdict || ""), el("td", c.ok ? "" : c.fix || ""));
      body.append(row);
    }
    document.getElementById("doctor-note").textContent = result.note;
  } catch (e) { /* shown as an empty table */ } finally { button.disabled = false; }
}

document.getElementById("run-doctor").addEventListener("click", runDoctor);
connect();
loadStatus();
loadRecords();
runDoctor();
setInterval(loadStatus, 3000);
