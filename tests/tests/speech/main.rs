//! Speech engines: the cloud providers' clients against local doubles of
//! their public protocols, the offline engines, audio and turn taking.

mod providers;
mod resolve;
