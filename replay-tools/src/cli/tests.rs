//! The command line's shape: the API.md commands parse, conflicting options are refused.

use clap::{CommandFactory, Parser};

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("ledger-replay").chain(args.iter().copied()))
}

#[test]
fn the_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn api_md_commands_parse() {
    for args in [
        &["export"][..],
        &["export", "--stream", "slot-glaciar-0900"],
        &["export", "--category", "booking"],
        &["export", "--after", "0000000000000001000000000000002a"],
        &["export", "--category", "slot", "--after", &"0".repeat(32)],
        &["verify"],
        &["state", "--stream", "slot-a"],
        &["state", "--stream", "slot-a", "--at-version", "3"],
        &[
            "state",
            "--stream",
            "slot-a",
            "--at-time",
            "2026-12-01T09:00:00-03:00",
        ],
        &["rebuild", "--projection", "slot_availability"],
        &["rebuild", "--all"],
        &["diff", "--projection", "slot_availability"],
        &["import", "events.jsonl"],
    ] {
        assert!(parse(args).is_ok(), "{args:?}: {:?}", parse(args).err());
    }
}

#[test]
fn conflicting_or_malformed_options_are_refused() {
    for args in [
        &["export", "--stream", "slot-a", "--category", "slot"][..],
        &["export", "--stream", "slot-a", "--after", &"0".repeat(32)],
        &["export", "--after", "not-a-cursor"],
        &["export", "--category", "hotel"],
        &["export", "--stream", "nocategory"],
        &["state"],
        &[
            "state",
            "--stream",
            "slot-a",
            "--at-version",
            "1",
            "--at-time",
            "2026-12-01T09:00:00Z",
        ],
        &["state", "--stream", "slot-a", "--at-version", "-1"],
        &["state", "--stream", "slot-a", "--at-time", "yesterday"],
        &["rebuild"],
        &["import"],
    ] {
        let err = parse(args).expect_err(&format!("{args:?} must be refused"));
        assert_eq!(err.exit_code(), 2, "{args:?}");
    }
}

#[test]
fn at_time_is_read_with_its_offset() {
    let cli = parse(&[
        "state",
        "--stream",
        "slot-a",
        "--at-time",
        "2026-12-01T09:00:00-03:00",
    ])
    .unwrap();
    let Command::State(args) = cli.command else {
        panic!("state");
    };
    assert_eq!(
        args.at_time.unwrap().to_rfc3339(),
        "2026-12-01T12:00:00+00:00"
    );
}
