//! fedrecon benches
