//! End to end: `atende check-config` runs, offline, every check a start or a reload runs
//! (prompts in the library, queues the flows name, ...), prints every problem and exits
//! non-zero, or prints `ok`.

use std::path::Path;
use std::process::{Command, Output};

fn check_config(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atende"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check-config", "--config"])
        .arg(config)
        .output()
        .expect("run atende check-config")
}

/// The shipped config, with its flows copied to `dir` (so a test may edit them) and the
/// shipped prompt library, both by absolute path.
fn setup(dir: &Path) -> (std::path::PathBuf, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flows = dir.join("ivr-flows");
    std::fs::create_dir_all(&flows).unwrap();
    for e in std::fs::read_dir(root.join("ivr-flows")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::copy(&p, flows.join(p.file_name().unwrap())).unwrap();
        }
    }
    let text = std::fs::read_to_string(root.join("config/atende.toml"))
        .unwrap()
        .replace(
            "dir = \"ivr-flows\"",
            &format!("dir = {:?}", flows.display().to_string()),
        )
        .replace(
            "dir = \"prompts\"",
            &format!("dir = {:?}", root.join("prompts").display().to_string()),
        );
    (dir.join("atende.toml"), text)
}

#[test]
fn the_shipped_config_passes() {
    let out = check_config(Path::new("config/atende.toml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "config/atende.toml: ok");
}

#[test]
fn a_queue_the_flows_name_or_a_prompt_a_service_names_missing_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = setup(dir.path());
    std::fs::write(&path, &text).unwrap();
    // The copy as is passes: what fails below is only what each case changes.
    let out = check_config(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Flows hand callers to a queue `[[queues]]` does not have.
    let flow = dir.path().join("ivr-flows/acessibilidade.yaml");
    let good = std::fs::read_to_string(&flow).unwrap();
    std::fs::write(
        &flow,
        good.replace("queue: acessibilidade", "queue: acessibilidad"),
    )
    .unwrap();
    let out = check_config(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "passed: {stderr}");
    assert!(
        stderr.contains("acessibilidade.yaml") && stderr.contains("queue `acessibilidad`"),
        "{stderr}"
    );
    std::fs::write(&flow, good).unwrap();

    // A service names a prompt the library does not have.
    std::fs::write(
        &path,
        text.replace(
            "welcome_prompt = \"pt-BR/welcome\"",
            "welcome_prompt = \"pt-BR/boas-vindas-inexistente\"",
        )
        .replacen(
            "hold_music = \"pt-BR/hold-music\"",
            "hold_music = \"pt-BR/espera-inexistente\"",
            1,
        ),
    )
    .unwrap();
    let out = check_config(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "passed: {stderr}");
    assert!(
        stderr.contains("service \"demo\"")
            && stderr.contains("\"pt-BR/boas-vindas-inexistente\"")
            && stderr.contains("not in the prompt library"),
        "{stderr}"
    );
    // Every problem, not only the first.
    assert!(
        stderr.contains("service \"ura\"") && stderr.contains("\"pt-BR/espera-inexistente\""),
        "{stderr}"
    );
}

#[test]
fn a_start_with_broken_prompts_is_refused_naming_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = setup(dir.path());
    let data = dir.path().display().to_string();
    let text = text
        .replace(
            "sqlite://data/atende.db",
            &format!("sqlite://{data}/atende.db"),
        )
        .replace(
            "dir = \"data/recordings\"",
            &format!("dir = \"{data}/recordings\""),
        )
        .replace(
            "welcome_prompt = \"pt-BR/welcome\"",
            "welcome_prompt = \"pt-BR/boas-vindas-inexistente\"",
        )
        .replacen(
            "hold_music = \"pt-BR/hold-music\"",
            "hold_music = \"pt-BR/espera-inexistente\"",
            1,
        );
    std::fs::write(&path, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atende"))
        .current_dir(dir.path())
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run atende serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("atende started with prompts missing");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("atende could not start")
            && stderr.contains("\"pt-BR/boas-vindas-inexistente\"")
            && stderr.contains("\"pt-BR/espera-inexistente\""),
        "every problem named at start:\n{stderr}"
    );
}
