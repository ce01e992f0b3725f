//! Tests of the conversation engine; `support` is shared with the sim carrier's and the
//! report's tests.

mod flow;
mod llm;
mod nlu;
mod offline;
pub(crate) mod support;
