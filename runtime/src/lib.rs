//! berth runtime library.
