//! ESRD placeholder.
