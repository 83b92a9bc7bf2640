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
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
    assert_eq!(parse_duration("2m"), Some(Duration::from_mins(2)));
    assert_eq!(parse_duration("1h"), Some(Duration::from_hours(1)));
    assert_eq!(parse_duration("1d"), Some(Duration::from_hours(24)));
    assert_eq!(parse_duration("1w"), None);
    assert_eq!(parse_duration(""), None);
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
