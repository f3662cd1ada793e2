//! Upgrading the server in place (DESIGN.md "Hand-over"): the state format (`state`).

pub mod state;
