//! Unit tests of config parsing and validation.

use super::*;

fn err(text: &str) -> ConfigError {
    parse(text, Path::new("/etc/impermctl/config.toml")).expect_err("should be rejected")
}

#[test]
fn probe() {
    for t in [
        "version = 1\n[[persistence]]\npath = \"/persistent\"\nhideMounts = true\n",
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/a\"\n[[persistence.directories]]\npath = \"/a\"\nmod = 1\n",
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.files]]\npath = \"/a\"\nmethod = \"copy\"\n",
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.files]]\nmethod = \"auto\"\n",
        "version = 1\n[persistence]\npath = \"/persistent\"\n",
        "version = 1\n[[persistence]]\npath = 5\n",
        "version = 1\n[watch]\nwarn_every = true\n",
        "version = 1\n[[persistence]]\npath = \"/persistent\"\ndirectories = [ { path = \"/x\", hide_mounts = true } ]\n",
        "version = 1\n[[persistence]]\npath = \"/persistent\"\n[[persistence.directories]]\npath = \"/x\"\nparent = { user = \"a\", mode = 7 }\n",
        "version = 1\n[layout\n",
        "version = 1\nversion = 2\n",
    ] {
        println!("{}\n", err(t));
    }
}
