//! A Nitric project as `nitric start` reads it: `nitric.yaml` (services:
//! `match` globs and `start` commands), `.env`, and `local.nitric.yaml`
//! (websocket port pins).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::process::{Program, ServiceSpec};

/// Why a project cannot run. Each names the file and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{} is not a valid nitric.yaml: {reason}", path.display())]
    Yaml { path: PathBuf, reason: String },
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
}

#[derive(serde::Deserialize)]
struct NitricYaml {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    services: Vec<ServiceEntry>,
}

#[derive(serde::Deserialize)]
struct ServiceEntry {
    #[serde(rename = "match")]
    pattern: String,
    start: String,
    #[serde(default)]
    basedir: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct LocalYaml {
    #[serde(default)]
    websockets: BTreeMap<String, PortPin>,
}

#[derive(serde::Deserialize)]
struct PortPin {
    port: u16,
}

/// What a project runs.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub services: Vec<ServiceSpec>,
    /// `local.nitric.yaml`'s websocket ports, by socket name.
    pub socket_ports: BTreeMap<String, u16>,
}

impl Project {
    /// The files its services serve (`services/chat.ts`, …), as paths.
    pub fn service_files(&self) -> Vec<PathBuf> {
        // `basedir: .` joins as `dir/./services/chat.ts`; shown without it.
        self.services
            .iter()
            .map(|service| {
                service
                    .cwd
                    .join(&service.name)
                    .components()
                    .filter(|part| *part != std::path::Component::CurDir)
                    .collect()
            })
            .collect()
    }
}

/// The services of `--run` commands (in the current folder, with its
/// `.env`) or of a `--project` folder, and the socket ports it pins.
pub fn service_specs(
    run: &[String],
    project: Option<&Path>,
) -> Result<(Vec<ServiceSpec>, BTreeMap<String, u16>), ProjectError> {
    if let Some(dir) = project {
        let project = read_project(dir)?;
        return Ok((project.services, project.socket_ports));
    }
    let env = read_dotenv(Path::new(".env"))?;
    let cwd = std::env::current_dir().map_err(|reason| ProjectError::Read {
        path: PathBuf::from("."),
        reason,
    })?;
    let specs = run
        .iter()
        .map(|command| ServiceSpec {
            name: command.trim().to_owned(),
            program: Program::Shell(command.clone()),
            cwd: cwd.clone(),
            env: env.clone(),
        })
        .collect();
    Ok((specs, BTreeMap::new()))
}

/// Reads `dir/nitric.yaml`, `dir/.env` and `dir/local.nitric.yaml`.
pub fn read_project(dir: &Path) -> Result<Project, ProjectError> {
    let path = dir.join("nitric.yaml");
    let text = std::fs::read_to_string(&path).map_err(|reason| ProjectError::Read {
        path: path.clone(),
        reason,
    })?;
    let yaml: NitricYaml = serde_norway::from_str(&text).map_err(|error| ProjectError::Yaml {
        path: path.clone(),
        reason: error.to_string(),
    })?;
    let invalid = |problem: String| ProjectError::Invalid {
        path: path.clone(),
        problem,
    };
    if yaml.services.is_empty() {
        return Err(invalid(
            "it lists no services (services: - match: GLOB, start: CMD)".to_owned(),
        ));
    }
    let env = read_dotenv(&dir.join(".env"))?;
    let mut services: Vec<ServiceSpec> = Vec::new();
    for entry in &yaml.services {
        let basedir = dir.join(entry.basedir.as_deref().unwrap_or("."));
        let matched = glob_files(&basedir, &entry.pattern);
        if matched.is_empty() {
            return Err(invalid(format!("no file matches '{}'", entry.pattern)));
        }
        for relative in matched {
            let shown = relative.to_string_lossy().into_owned();
            if services.iter().any(|service| service.name == shown) {
                return Err(invalid(format!(
                    "{shown} is matched by two services entries"
                )));
            }
            let command = entry
                .start
                .replace("${SERVICE_PATH}", &shown)
                .replace("$SERVICE_PATH", &shown);
            let argv: Vec<String> = command
                .split(' ')
                .filter(|part| !part.is_empty())
                .map(str::to_owned)
                .collect();
            services.push(ServiceSpec {
                name: shown,
                program: Program::Argv(argv),
                cwd: basedir.clone(),
                env: env.clone(),
            });
        }
    }
    let local_path = dir.join("local.nitric.yaml");
    let local: LocalYaml = match std::fs::read_to_string(&local_path) {
        Ok(text) => serde_norway::from_str(&text).map_err(|error| ProjectError::Yaml {
            path: local_path.clone(),
            reason: error.to_string(),
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => LocalYaml::default(),
        Err(reason) => {
            return Err(ProjectError::Read {
                path: local_path,
                reason,
            });
        }
    };
    let name = yaml.name.unwrap_or_else(|| {
        dir.file_name().map_or_else(
            || "project".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
    });
    Ok(Project {
        name,
        services,
        socket_ports: local
            .websockets
            .into_iter()
            .map(|(socket, pin)| (socket, pin.port))
            .collect(),
    })
}

/// `KEY=VALUE` lines of a `.env` file (missing: none). Blank lines and `#`
/// comments are skipped, `export ` is allowed, and one pair of quotes
/// around a value is removed.
pub fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ProjectError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(reason) => {
            return Err(ProjectError::Read {
                path: path.to_path_buf(),
                reason,
            });
        }
    };
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(ProjectError::Invalid {
                path: path.to_path_buf(),
                problem: format!("line {} is not KEY=VALUE", index + 1),
            });
        };
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|quote| {
                value
                    .strip_prefix(*quote)
                    .and_then(|rest| rest.strip_suffix(*quote))
            })
            .unwrap_or(value);
        pairs.push((key.trim().to_owned(), unquoted.to_owned()));
    }
    Ok(pairs)
}

/// Files under `base` matching `pattern` with Go's `filepath.Match` rules
/// per path segment (`*` stays inside a segment, no `**`), sorted.
fn glob_files(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let segments: Vec<&str> = pattern
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect();
    let mut found = vec![PathBuf::new()];
    for (depth, segment) in segments.iter().enumerate() {
        let is_last = depth + 1 == segments.len();
        let mut next = Vec::new();
        for prefix in &found {
            let Ok(entries) = std::fs::read_dir(base.join(prefix)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_dir = entry.path().is_dir();
                if segment_matches(segment, &name) && (is_last != is_dir) {
                    next.push(prefix.join(&name));
                }
            }
        }
        found = next;
    }
    found.sort();
    found
}

/// One path segment against a pattern of `*`, `?`, `[...]` and literals.
fn segment_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| matches_from(rest, &name[skip..])),
        Some(('?', rest)) => !name.is_empty() && matches_from(rest, &name[1..]),
        Some(('[', rest)) => {
            let Some(close) = rest.iter().position(|c| *c == ']') else {
                return false;
            };
            let (class, after) = (&rest[..close], &rest[close + 1..]);
            let Some(first) = name.first() else {
                return false;
            };
            let (negated, class) = match class.split_first() {
                Some(('^', inner)) => (true, inner),
                _ => (false, class),
            };
            let mut hit = false;
            let mut index = 0;
            while index < class.len() {
                if index + 2 < class.len() && class[index + 1] == '-' {
                    hit |= (class[index]..=class[index + 2]).contains(first);
                    index += 3;
                } else {
                    hit |= class[index] == *first;
                    index += 1;
                }
            }
            hit != negated && matches_from(after, &name[1..])
        }
        Some((literal, rest)) => name.first() == Some(literal) && matches_from(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_go_filepath() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("services/sub")).expect("dirs");
        for file in [
            "services/a.ts",
            "services/b.ts",
            "services/c.js",
            "services/sub/d.ts",
        ] {
            std::fs::write(dir.path().join(file), "").expect("write");
        }
        let found = glob_files(dir.path(), "services/*.ts");
        assert_eq!(
            found,
            vec![
                PathBuf::from("services/a.ts"),
                PathBuf::from("services/b.ts")
            ]
        );
        assert_eq!(glob_files(dir.path(), "services/[ab].*").len(), 2);
    }

    #[test]
    fn a_project_becomes_one_service_per_matched_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("services")).expect("dirs");
        std::fs::write(dir.path().join("services/chat.ts"), "").expect("write");
        std::fs::write(
            dir.path().join("nitric.yaml"),
            "name: demo\nservices:\n  - match: services/*.ts\n    start: npx tsx $SERVICE_PATH\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join(".env"),
            "# x\nexport A=1\nB=\"two words\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("local.nitric.yaml"),
            "websockets:\n  chat:\n    port: 7001\n",
        )
        .expect("write");
        let project = read_project(dir.path()).expect("a valid project");
        assert_eq!(project.name, "demo");
        assert_eq!(project.services.len(), 1);
        let service = &project.services[0];
        assert_eq!(service.name, "services/chat.ts");
        assert_eq!(
            project.service_files(),
            [dir.path().join("services/chat.ts")]
        );
        assert_eq!(
            service.program,
            Program::Argv(vec!["npx".into(), "tsx".into(), "services/chat.ts".into()])
        );
        assert_eq!(
            service.env,
            vec![
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "two words".to_owned())
            ]
        );
        assert_eq!(project.socket_ports.get("chat"), Some(&7001));
    }

    #[test]
    fn a_bad_project_is_one_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = read_project(dir.path()).expect_err("no nitric.yaml");
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
        std::fs::write(
            dir.path().join("nitric.yaml"),
            "services:\n  - match: nothing/*.js\n    start: node $SERVICE_PATH\n",
        )
        .expect("write");
        let unmatched = read_project(dir.path()).expect_err("no file matches");
        assert!(
            unmatched
                .to_string()
                .contains("no file matches 'nothing/*.js'"),
            "{unmatched}"
        );
        std::fs::write(dir.path().join("nitric.yaml"), "services: [").expect("write");
        let broken = read_project(dir.path()).expect_err("invalid YAML");
        assert!(
            broken.to_string().contains("is not a valid nitric.yaml"),
            "{broken}"
        );
    }
}
