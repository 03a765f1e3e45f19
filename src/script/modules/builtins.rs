//! Node's built-in modules in the sandbox: a few pure ones work (`path`,
//! `buffer`, `events`, `util`, `crypto.randomUUID`…); the rest load, so a
//! file that imports `fs` for an API route still runs its websocket
//! handlers, and throw on use, naming the built-in.

/// The JavaScript behind every built-in (see `builtins.js`).
pub(crate) const BUILTINS_JS: &str = include_str!("builtins.js");

/// The global symbol the built-in faces reach the implementations through.
pub(crate) const BUILTINS_KEY: &str = "sockscope.builtins";

/// Every module Node ships, by the name `require` knows it.
const MODULES: &[&str] = &[
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "domain",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// The built-in `specifier` names (`fs`, `node:fs`), if it is one.
pub(crate) fn name(specifier: &str) -> Option<&'static str> {
    let bare = specifier.strip_prefix("node:").unwrap_or(specifier);
    MODULES.iter().copied().find(|module| *module == bare)
}

/// The names a module may import from a built-in by name. Implemented
/// built-ins export what they have; the others export throwing stand-ins.
fn exported_names(module: &str) -> &'static [&'static str] {
    match module {
        "fs" => &[
            "readFileSync",
            "writeFileSync",
            "existsSync",
            "readFile",
            "writeFile",
            "readdirSync",
            "readdir",
            "mkdirSync",
            "mkdir",
            "statSync",
            "stat",
            "lstatSync",
            "unlinkSync",
            "unlink",
            "createReadStream",
            "createWriteStream",
            "appendFileSync",
            "appendFile",
            "rmSync",
            "rm",
            "renameSync",
            "rename",
            "copyFileSync",
            "accessSync",
            "access",
            "watch",
            "promises",
            "constants",
            "openSync",
            "closeSync",
            "realpathSync",
        ],
        "fs/promises" => &[
            "readFile",
            "writeFile",
            "readdir",
            "mkdir",
            "stat",
            "unlink",
            "rm",
            "rename",
            "appendFile",
            "access",
            "copyFile",
            "open",
            "lstat",
            "realpath",
        ],
        "path" | "path/posix" => &[
            "sep",
            "delimiter",
            "basename",
            "dirname",
            "extname",
            "join",
            "resolve",
            "normalize",
            "relative",
            "isAbsolute",
            "parse",
            "format",
            "posix",
            "toNamespacedPath",
        ],
        "crypto" => &[
            "randomUUID",
            "randomBytes",
            "randomInt",
            "getRandomValues",
            "randomFillSync",
            "webcrypto",
            "subtle",
            "createHash",
            "createHmac",
            "timingSafeEqual",
            "createCipheriv",
            "createDecipheriv",
            "pbkdf2Sync",
            "scryptSync",
            "generateKeyPairSync",
            "createSign",
            "createVerify",
        ],
        "buffer" => &["Buffer", "constants", "kMaxLength", "atob", "btoa"],
        "events" => &["EventEmitter", "once"],
        "util" => &[
            "format",
            "inspect",
            "promisify",
            "callbackify",
            "deprecate",
            "inherits",
            "isDeepStrictEqual",
            "types",
            "TextEncoder",
            "TextDecoder",
        ],
        "os" => &[
            "EOL",
            "platform",
            "hostname",
            "cpus",
            "tmpdir",
            "homedir",
            "type",
            "arch",
            "release",
            "networkInterfaces",
            "userInfo",
            "freemem",
            "totalmem",
            "uptime",
        ],
        "http" | "https" => &[
            "createServer",
            "request",
            "get",
            "Agent",
            "Server",
            "STATUS_CODES",
            "METHODS",
            "globalAgent",
        ],
        "child_process" => &[
            "exec",
            "execSync",
            "spawn",
            "spawnSync",
            "fork",
            "execFile",
            "execFileSync",
        ],
        "net" => &[
            "createServer",
            "connect",
            "createConnection",
            "Socket",
            "Server",
            "isIP",
        ],
        "url" => &[
            "URL",
            "URLSearchParams",
            "fileURLToPath",
            "pathToFileURL",
            "parse",
            "format",
            "resolve",
        ],
        "stream" => &[
            "Readable",
            "Writable",
            "Duplex",
            "Transform",
            "PassThrough",
            "pipeline",
            "finished",
            "Stream",
        ],
        "zlib" => &[
            "gzip",
            "gunzip",
            "gzipSync",
            "gunzipSync",
            "deflate",
            "inflate",
            "deflateSync",
            "inflateSync",
            "createGzip",
            "createGunzip",
        ],
        "querystring" => &[
            "parse",
            "stringify",
            "escape",
            "unescape",
            "encode",
            "decode",
        ],
        "process" => &[
            "env",
            "argv",
            "exit",
            "cwd",
            "nextTick",
            "platform",
            "version",
            "versions",
            "pid",
            "hrtime",
            "memoryUsage",
            "on",
        ],
        "timers" => &[
            "setTimeout",
            "setInterval",
            "setImmediate",
            "clearTimeout",
            "clearInterval",
        ],
        "assert" | "assert/strict" => &[
            "ok",
            "equal",
            "strictEqual",
            "deepEqual",
            "deepStrictEqual",
            "notEqual",
            "notStrictEqual",
            "throws",
            "rejects",
            "fail",
        ],
        _ => &[],
    }
}

/// The ES module a built-in is imported as.
pub(crate) fn face_source(module: &str) -> String {
    let names = exported_names(module);
    let mut source = format!(
        "const m = globalThis[Symbol.for('{BUILTINS_KEY}')]({});\nexport default m;\n",
        serde_json::Value::from(module)
    );
    if !names.is_empty() {
        source.push_str(&format!("export const {{ {} }} = m;\n", names.join(", ")));
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_known_with_and_without_the_node_prefix() {
        assert_eq!(name("fs"), Some("fs"));
        assert_eq!(name("node:fs/promises"), Some("fs/promises"));
        assert_eq!(name("short-uuid"), None);
        assert!(face_source("path").contains("export const { sep, delimiter"));
        assert!(!face_source("vm").contains("export const"));
    }
}
