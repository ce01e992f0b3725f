//! Live calls: what viewers and supervisors see of a call while it runs
//! ([`hub`]), and how the live space reaches the process that holds a call.

pub mod audio;
pub mod control;
pub mod follow;
pub mod hub;
pub mod internal;
pub mod space;
pub mod supervisor;
pub mod token;
