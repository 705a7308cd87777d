//! EHS placeholder.
