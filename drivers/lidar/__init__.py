"""SICK LMS5xx-class 2-D LiDAR scanners speaking CoLa B over TCP."""
