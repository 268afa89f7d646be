//! Cgroup drivers for berth.
