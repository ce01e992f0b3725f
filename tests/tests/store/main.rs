//! The store conformance suite: every promise of the `Table`, `Blobs` and
//! `Queue` ports, written once and run against both adapter sets (embedded
//! SQLite + folder + SQLite queue; DynamoDB + S3 + SQS on moto's server).

mod blobs;
mod processes;
mod queue;
mod table;
