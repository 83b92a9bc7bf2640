#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<&'static str, (String, String)> {
    read_env(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let settings = Layers::default().resolve().unwrap();
    assert_eq!(settings.listen.to_string(), "127.0.0.1:50051");
    assert_eq!(settings.log_format, LogFormat::Text);
    assert_eq!(settings.shutdown_grace, Duration::from_secs(10));
    assert_eq!(settings.max_batch_items, 1000);
    assert_eq!(settings.metrics_listen, None);
    assert!(settings.data_dir.ends_with("authzd") || settings.data_dir.ends_with("authzd-data"));
}

#[test]
fn flag_beats_env_beats_file() {
    let path = PathBuf::from("authzd.toml");
    let file = parse_file(
        &path,
        "listen = \"127.0.0.1:1\"\nlog_format = \"json\"\nmax_batch_items = 7\n",
    )
    .unwrap();
    let layers = Layers {
        file: Some((path.clone(), file)),
        env: env(&[
            ("AUTHZD_LISTEN", "127.0.0.1:2"),
            ("AUTHZD_LOG_FORMAT", "text"),
        ]),
        flags: [("listen", "127.0.0.1:3".to_owned())].into_iter().collect(),
    };
    let settings = layers.resolve().unwrap();
    assert_eq!(settings.listen.to_string(), "127.0.0.1:3");
    assert_eq!(settings.log_format, LogFormat::Text);
    assert_eq!(settings.max_batch_items, 7);
    assert_eq!(settings.sources["listen"], Source::Flag("listen".into()));
    assert_eq!(
        settings.sources["log_format"],
        Source::Env("AUTHZD_LOG_FORMAT".into())
    );
    assert_eq!(settings.sources["max_batch_items"], Source::File(path));
}

#[test]
fn unknown_file_key_is_named() {
    let err = parse_file(std::path::Path::new("a.toml"), "lisen = \"x\"").unwrap_err();
    assert!(err.to_string().contains("unknown setting `lisen`"), "{err}");
}

#[test]
fn unknown_env_variable_is_named() {
    let err = read_env([("AUTHZD_LISTN".to_owned(), "x".to_owned())]).unwrap_err();
    assert!(err.to_string().contains("`AUTHZD_LISTN`"), "{err}");
}

#[test]
fn rust_log_fills_log_level_only_when_authzd_log_level_is_unset() {
    let only_rust_log = env(&[("RUST_LOG", "debug")]);
    assert_eq!(only_rust_log["log_level"].1, "debug");
    let both = env(&[("RUST_LOG", "debug"), ("AUTHZD_LOG_LEVEL", "warn")]);
    assert_eq!(both["log_level"].1, "warn");
}

#[test]
fn bad_values_name_the_setting_and_the_rule() {
    let cases = [
        ("listen", "nowhere", "expected IP:PORT"),
        ("metrics_listen", "9090", "expected IP:PORT"),
        ("log_format", "xml", "`text` or `json`"),
        ("shutdown_grace", "forever", "duration"),
        ("shutdown_grace", "2h", "at most 1h"),
        ("max_batch_items", "0", "1 to 100000"),
        ("data_dir", " ", "must not be empty"),
        ("log_level", "[[", "log filter"),
    ];
    for (key, value, rule) in cases {
        let layers = Layers {
            flags: [(key, value.to_owned())].into_iter().collect(),
            ..Layers::default()
        };
        let err = layers.resolve().unwrap_err().to_string();
        assert!(err.contains(&format!("setting `{key}`")), "{err}");
        assert!(err.contains(rule), "{err}");
    }
}

#[test]
fn durations_parse_in_every_unit() {
    let parse = |text| parse_duration(text).ok();
    assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse("3"), Some(Duration::from_secs(3)));
    assert_eq!(parse(" 5s "), Some(Duration::from_secs(5)));
    assert_eq!(parse("2m"), Some(Duration::from_mins(2)));
    assert_eq!(parse("1h"), Some(Duration::from_hours(1)));
    assert_eq!(parse("1d"), Some(Duration::from_hours(24)));
    assert_eq!(parse("3650d"), Some(Duration::from_hours(24 * 3650)));
    // humantime's spellings, accepted since it parses them.
    assert_eq!(parse("1w"), Some(Duration::from_hours(24 * 7)));
    assert_eq!(parse("1h 30m"), Some(Duration::from_mins(90)));
    assert_eq!(parse("2min"), Some(Duration::from_mins(2)));
    assert_eq!(parse(""), None);
    assert_eq!(parse("5x"), None);
    assert_eq!(parse("-5s"), None);
    assert_eq!(parse("99999999999999999999"), None);
}

#[test]
fn bad_durations_name_the_setting_the_rule_and_the_fault() {
    let cases = [
        ("reload_interval", "soon", "from 100ms to 1h"),
        ("reload_interval", "10ms", "from 100ms to 1h"),
        ("reload_interval", "5parsecs", "unknown time unit"),
        ("keepalive_interval", "2h", "from 1s to 1h"),
        ("audit_retention_age", "30m", "from 1h to 3650d"),
        ("max_connection_age", "8d", "from 1s to 7d"),
    ];
    for (key, value, rule) in cases {
        let layers = Layers {
            flags: [(key, value.to_owned())].into_iter().collect(),
            ..Layers::default()
        };
        let err = layers.resolve().unwrap_err().to_string();
        assert!(err.contains(&format!("setting `{key}`")), "{err}");
        assert!(err.contains("expected a duration like"), "{err}");
        assert!(err.contains(rule), "{err}");
    }
}

#[test]
fn the_change_logs_ceiling_is_refused_below_its_floor() {
    let layers = |max: &str| Layers {
        flags: [
            ("changelog_retention_count", "500".to_owned()),
            ("changelog_retention_max_count", max.to_owned()),
        ]
        .into_iter()
        .collect(),
        ..Layers::default()
    };
    for refused in ["499", "0", "many"] {
        let err = layers(refused).resolve().unwrap_err().to_string();
        assert!(
            err.contains("setting `changelog_retention_max_count`"),
            "{err}"
        );
        assert!(
            err.contains("at least changelog_retention_count (500)"),
            "{err}"
        );
    }
    let settings = layers("500").resolve().unwrap();
    assert_eq!(settings.changelog_retention_max_count, 500);
    assert_eq!(
        Layers::default()
            .resolve()
            .unwrap()
            .changelog_retention_max_count,
        1_000_000
    );
}

#[test]
fn durations_read_back_as_they_are_rendered() {
    let layers = Layers {
        flags: [
            ("shutdown_grace", "1m 30s".to_owned()),
            ("lockout_duration", "2w".to_owned()),
        ]
        .into_iter()
        .collect(),
        ..Layers::default()
    };
    let settings = layers.resolve().unwrap();
    assert_eq!(settings.shutdown_grace, Duration::from_secs(90));
    assert_eq!(settings.lockout_duration, Duration::from_hours(24 * 14));
    let reread = parse_file(std::path::Path::new("x.toml"), &settings.to_toml()).unwrap();
    assert_eq!(reread["shutdown_grace"], "90000ms");
    assert_eq!(reread["lockout_duration"], "1209600s");
}

#[test]
fn effective_config_renders_as_toml_that_reads_back() {
    let settings = Layers::default().resolve().unwrap();
    let text = settings.to_toml();
    let reread = parse_file(std::path::Path::new("x.toml"), &text).unwrap();
    assert_eq!(reread["listen"], "127.0.0.1:50051");
    assert_eq!(reread["max_batch_items"], "1000");
}

#[test]
fn client_variables_are_not_server_settings() {
    let raw = read_env([("AUTHZD_SERVER".to_owned(), "http://x".to_owned())]).unwrap();
    assert!(raw.is_empty());
}

#[test]
fn metrics_listen_comes_from_the_environment_like_the_others() {
    let layers = Layers {
        env: env(&[("AUTHZD_METRICS_LISTEN", "127.0.0.1:9090")]),
        ..Layers::default()
    };
    let settings = layers.resolve().unwrap();
    assert_eq!(
        settings.metrics_listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    assert_eq!(
        settings.sources["metrics_listen"],
        Source::Env("AUTHZD_METRICS_LISTEN".into())
    );
}
