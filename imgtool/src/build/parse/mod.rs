//! The Dockerfile language: [`lines`] turns text into raw instructions
//! (directives, continuations, heredocs), [`instruction`] types them,
//! [`lex`] substitutes variables in their words, [`mount`] reads RUN mounts.

pub mod instruction;
pub mod lex;
pub mod lines;
pub mod mount;

#[cfg(test)]
mod buildkit_heredocs;

pub use instruction::{
    parse_dockerfile, CommandLine, Copy, Dockerfile, Health, Instruction, InstructionError, Run,
    Stage, Step,
};
pub use lex::{Env, LexError, Lexer, NoEnv};
pub use lines::Heredoc;
