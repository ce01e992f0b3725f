//! Live calls: what viewers and supervisors see of a call while it runs
//! ([`hub`]), and how the live space reaches the process that holds a call.

pub mod follow;
pub mod hub;
pub mod token;
