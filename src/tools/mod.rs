//! Front-end helpers shared by the `capvault` tool and the examples (feature `cli`): the
//! latency reports and plots, the terminal dashboard, and `capvault serve`. Nothing below the front ends uses
//! them.

pub mod dashboard;
pub mod report;
pub mod serve;
