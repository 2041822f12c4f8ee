//! End-to-end tests: one binary, one module per area (ripgrep's layout).

mod util;

mod access_reviews;
mod arm;
mod backup;
mod cli;
mod config;
mod connectors;
mod cycle;
mod daemon;
mod digest;
mod evidence;
mod export;
mod fake_tenant;
mod graph;
mod graph_connectors;
mod held;
mod incident;
mod isolation;
mod joins;
mod ladder;
mod library;
mod oscal;
mod perspective;
mod runtime;
mod service;
mod smtp;
mod soak;
