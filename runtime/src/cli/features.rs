use super::Error;
use clap::Args;

/// `berth features`.
#[derive(Debug, Args)]
pub struct FeaturesArgs {}

impl FeaturesArgs {
    pub fn run(&self) -> Result<i32, Error> {
        let text = serde_json::to_string_pretty(&berth_runtime::features::document()).expect("a JSON value serializes");
        println!("{text}");
        Ok(0)
    }
}
