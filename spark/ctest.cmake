# The Spark module's tests, included by the root CMakeLists.txt. Label: spark.
#
#   spark_test     spark/run-tests.sh: `mvn -q -B verify` in spark/, the JUnit suite in local[2]
#                  (flat shards equal one flat index on every golden case; hnsw / ivf_flat recall;
#                  the k-NN graph; the join; persistence; bad input), then the jars; skipped with
#                  the reason when Spark cannot be resolved. Needs the Java package installed
#                  (java_install). Fixture of:
#   spark_pyspark  spark/test_pyspark.py in the Python package's venv: nearkit.spark's wrappers
#                  driving the JVM classes through pyspark (skipped with the reason without
#                  pyspark).

find_program(NEARKIT_MVN_EXECUTABLE mvn)
if(NOT NEARKIT_MVN_EXECUTABLE)
  message(STATUS "nearkit: mvn not found; the Spark tests are not registered")
  return()
endif()

add_test(NAME spark_test COMMAND bash "${NEARKIT_SOURCE_DIR}/spark/run-tests.sh")
set_tests_properties(spark_test PROPERTIES LABELS spark SKIP_RETURN_CODE 77 TIMEOUT 900
                     FIXTURES_REQUIRED nearkit_java_installed FIXTURES_SETUP nearkit_spark_jar)

if(TARGET nearkit_static)
  add_test(NAME spark_pyspark
           COMMAND "${CMAKE_COMMAND}" -E env
                   "NEARKIT_SPARK_JAR=${NEARKIT_SOURCE_DIR}/spark/target/nearkit-spark-0.1.0-with-nearkit.jar"
                   "${NEARKIT_BINARY_DIR}/python-venv/bin/python" "${NEARKIT_SOURCE_DIR}/spark/test_pyspark.py"
           WORKING_DIRECTORY "${NEARKIT_BINARY_DIR}")
  set_tests_properties(spark_pyspark PROPERTIES LABELS spark SKIP_RETURN_CODE 77 TIMEOUT 300
                       FIXTURES_REQUIRED "nearkit_spark_jar;nearkit_python_venv")
endif()
