//! berth-img library.
