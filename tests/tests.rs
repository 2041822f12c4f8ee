//! End-to-end tests: one binary, one module per area (ripgrep's layout).

mod util;

mod backup;
mod cli;
mod config;
mod cycle;
mod daemon;
mod evidence;
mod export;
mod graph;
mod isolation;
mod ladder;
mod library;
mod perspective;
mod service;
mod smtp;
mod soak;
