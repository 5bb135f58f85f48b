#!/usr/bin/env bash
# Makes the portable jar: a copy of a nearkit jar whose natives are replaced by the portable ones
# of ci/portable_natives.sh (glibc 2.17; one OUTDIR per architecture).
#
#   bash ci/portable_jar.sh JAR PORTABLE_JAR NATIVES_OUTDIR...
#
# JAR is the jar Maven builds (cd java && mvn -B package, java/target/nearkit-<version>.jar);
# PORTABLE_JAR gets every entry of it except io/nearkit/native/, and then, for each
# NATIVES_OUTDIR, the files of NATIVES_OUTDIR/java/<platform>/ under io/nearkit/native/<platform>/
# (the JNI library, its companion libraries, their index libs.txt which io.nearkit.NativeLib reads,
# and LICENSE-scipy-openblas32.txt). For example, both architectures:
#   bash ci/portable_natives.sh x86_64 build/pn/x86_64
#   bash ci/portable_natives.sh aarch64 build/pn/aarch64
#   bash ci/portable_jar.sh java/target/nearkit-0.1.0.jar build/pn/nearkit-0.1.0.jar build/pn/x86_64 build/pn/aarch64
set -euo pipefail
usage="usage: ci/portable_jar.sh JAR PORTABLE_JAR NATIVES_OUTDIR..."
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
py=${NEARKIT_PYTHON:-python3}
"$py" - "$@" <<'PYEOF'
import pathlib
import sys
import zipfile

base, out, natives = sys.argv[1], pathlib.Path(sys.argv[2]), [pathlib.Path(d) for d in sys.argv[3:]]
PREFIX = "io/nearkit/native/"
platforms = []
for d in natives:
    found = sorted(p for p in (d / "java").glob("*") if p.is_dir()) if (d / "java").is_dir() else []
    if not found:
        sys.exit(f"ci/portable_jar.sh: {d}/java/ holds no platform directory (ci/portable_natives.sh makes it)")
    platforms += found
tmp = out.with_name(out.name + ".part")
with zipfile.ZipFile(base) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        if not info.filename.startswith(PREFIX):
            dst.writestr(info, src.read(info))
    for platform_dir in platforms:
        for f in sorted(platform_dir.iterdir()):
            dst.write(f, PREFIX + platform_dir.name + "/" + f.name)
            print(f"{out.name}: {PREFIX}{platform_dir.name}/{f.name}")
tmp.replace(out)
PYEOF
