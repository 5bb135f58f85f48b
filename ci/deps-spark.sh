# Sourced by ci/deps.sh (as root, on Debian 12, with `set -euo pipefail` and its apt_install),
# after ci/deps-java.sh: what the Spark module (spark/) needs to build and test. Idempotent, quiet.
#   - Spark 4 (Scala 2.13) and the build's plugins into the local Maven repository, ahead of the
#     tests (io.nearkit:nearkit itself is installed by the ctest java_install).
#   - pyspark of the same version (pinned with spark.version in spark/pom.xml) in python3, for the
#     PySpark wrappers' test and bench/distributed.py.
# Where Spark cannot be fetched, the ctest spark tests skip with the reason (spark/run-tests.sh).

nearkit_deps_spark() {
  local here_spark
  here_spark=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local version
  version=$(sed -n 's:.*<spark.version>\(.*\)</spark.version>.*:\1:p' "$here_spark/spark/pom.xml")
  command -v mvn >/dev/null 2>&1 || apt_install maven
  # Spark's artifacts one by one (dependency:get fetches each with its dependencies), not the
  # module's whole dependency set: that includes io.nearkit:nearkit, which exists only once the
  # ctest java_install has installed it, so resolving it here fails on a fresh machine.
  local artifact
  for artifact in spark-sql_2.13 spark-mllib_2.13; do
    if ! mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
      -Dartifact="org.apache.spark:$artifact:$version" >/dev/null; then
      echo "ci/deps-spark.sh: Spark $version ($artifact) could not be fetched; the Spark tests will skip" >&2
      break
    fi
  done
  local py=${NEARKIT_PYTHON:-python3}
  if "$py" -c "import pyspark, sys; sys.exit(0 if pyspark.__version__ == '$version' else 1)" 2>/dev/null; then
    return 0
  fi
  local flags=(-q --disable-pip-version-check --no-input)
  if "$py" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
    flags+=(--break-system-packages)
  fi
  "$py" -m pip install "${flags[@]}" "pyspark==$version" ||
    echo "ci/deps-spark.sh: pyspark $version could not be installed; the PySpark test will skip" >&2
}
nearkit_deps_spark
