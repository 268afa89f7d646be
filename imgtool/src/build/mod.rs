//! `berth-img build`: Dockerfiles into images.
//!
//! [`parse`] reads the Dockerfile; [`ignore`] reads `.dockerignore`.

pub mod ignore;
pub mod parse;
