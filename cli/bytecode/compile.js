// Compile every .py under a folder with the CPython that Pyodide ships (WebAssembly, run by Node.js),
// as `python -m compileall` of that version would: `node compile.js VERSION FOLDER PREFIX`.
// cli/package.py runs this when no native Python of the Lambda runtime's version is at hand. The
// folder is mounted into Pyodide's file system; the .pyc files land beside the sources, in
// __pycache__, with unchecked-hash invalidation and PREFIX (/var/task) as the path tracebacks name.
// Exits non-zero when Pyodide's Python is not VERSION (bytecode of another version would be
// ignored by the runtime) or when a file does not compile.
const path = require("path");
const { loadPyodide } = require("pyodide");

async function main() {
  const [version, folder, prefix] = process.argv.slice(2);
  const pyodide = await loadPyodide({ stdout: () => {}, stderr: (line) => console.error(line) });
  pyodide.FS.mkdir("/stage");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(folder) }, "/stage");
  pyodide.globals.set("wanted", version);
  pyodide.globals.set("prefix", prefix);
  const result = pyodide.runPython(`
import compileall, py_compile, sys
have = "%d.%d" % sys.version_info[:2]
if have != wanted:
    result = "Python " + have + " here, not " + wanted
else:
    ok = compileall.compile_dir("/stage", quiet=1, stripdir="/stage", prependdir=prefix, workers=1,
                                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    result = "" if ok else "some files did not compile"
result`);
  if (result) {
    console.error("compile.js: " + result);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
