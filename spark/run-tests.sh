#!/usr/bin/env bash
# ctest spark_test: the Spark module's JUnit suite (one SparkSession in local[2] for every case),
# then its jars. Needs io.nearkit:nearkit in the local Maven repository (ctest java_install).
# Exits 77 (ctest SKIP_RETURN_CODE) with the reason when Spark cannot be had from Maven.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:resolve \
    -DexcludeGroupIds=io.nearkit >/dev/null 2>&1; then
  echo "SKIP: Spark (spark-sql_2.13 / spark-mllib_2.13, spark/pom.xml) could not be resolved from Maven"
  exit 77
fi
exec mvn -q -B verify
