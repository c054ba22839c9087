//! fedrecon tests
