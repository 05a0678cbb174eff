//! Placeholder; the benchmark is written after the stores.
fn main() {}
