"""nearkit on Apache Spark from PySpark: thin wrappers of the JVM classes of the nearkit-spark jar.

The work is done by ``io.nearkit.spark`` (the ``spark/`` module, built on the Java package); these
classes only hand parameters and DataFrames to it through py4j. Give Spark the jar first, e.g.
``SparkSession.builder.config("spark.jars", "nearkit-spark-0.1.0-with-nearkit.jar")``::

    from nearkit.spark import NearkitKnn, knn_graph
    model = NearkitKnn(kind="hnsw", metric="l2", k=10, buildParams={"M": "16"}).fit(df)
    answered = model.transform(queries)          # + neighbors (array<bigint>), distances
    graph = knn_graph(df, NearkitKnn(kind="flat"), k=10)

``df`` has a ``long`` id column (``idCol``) and a vector column (``featuresCol``): a Spark ML
Vector, ``array<float>``, ``array<double>`` or ``binary`` (binary vectors, e.g. for hamming).
"""

from collections.abc import Mapping
from typing import Any, Dict, Optional

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import JavaMLReadable, JavaMLReader, JavaMLWritable
from pyspark.ml.wrapper import JavaEstimator, JavaModel
from pyspark.sql import DataFrame, SparkSession

__all__ = ["NearkitKnn", "NearkitKnnModel", "knn_graph", "knn_join"]

_JVM_PACKAGE = "io.nearkit.spark"


def _to_string_map(value: Any) -> Dict[str, str]:
    """A dict of parameter names to values, values as text (what the JVM side takes)."""
    if not isinstance(value, Mapping):  # a dict, or py4j's view of a java.util.Map
        raise TypeError(f"expected a dict of parameter names to values, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


class _KnnParams(Params):
    """The search parameters the estimator and the model share (see the JVM classes)."""

    featuresCol = Param(Params._dummy(), "featuresCol", "the vector column",
                        typeConverter=TypeConverters.toString)
    k = Param(Params._dummy(), "k", "the number of neighbours per query row (>= 1)",
              typeConverter=TypeConverters.toInt)
    neighborsCol = Param(Params._dummy(), "neighborsCol", "output column of neighbour ids",
                         typeConverter=TypeConverters.toString)
    distancesCol = Param(Params._dummy(), "distancesCol", "output column of distances",
                         typeConverter=TypeConverters.toString)
    searchParams = Param(Params._dummy(), "searchParams", "per-search kind parameters by name",
                         typeConverter=_to_string_map)
    numThreads = Param(Params._dummy(), "numThreads", "native threads per task; 0: the task's cores",
                       typeConverter=TypeConverters.toInt)
    queryBatchSize = Param(Params._dummy(), "queryBatchSize", "query rows broadcast at a time",
                           typeConverter=TypeConverters.toInt)

    def setFeaturesCol(self, value: str) -> Any:
        return self._set(featuresCol=value)

    def setK(self, value: int) -> Any:
        return self._set(k=value)

    def setNeighborsCol(self, value: str) -> Any:
        return self._set(neighborsCol=value)

    def setDistancesCol(self, value: str) -> Any:
        return self._set(distancesCol=value)

    def setSearchParams(self, value: Dict[str, Any]) -> Any:
        return self._set(searchParams=value)

    def setNumThreads(self, value: int) -> Any:
        return self._set(numThreads=value)

    def setQueryBatchSize(self, value: int) -> Any:
        return self._set(queryBatchSize=value)


class _Reader(JavaMLReader):
    """Loads through io.nearkit.spark's readers (pyspark's own looks under org.apache.spark)."""

    @classmethod
    def _java_loader_class(cls, clazz: type) -> str:
        return f"{_JVM_PACKAGE}.{clazz.__name__}"

    def load(self, path: str) -> Any:
        if not isinstance(path, str):
            raise TypeError(f"path should be a string, got {type(path).__name__}")
        return self._clazz._wrap(self._jread.load(path))


class NearkitKnn(JavaEstimator, _KnnParams, JavaMLReadable, JavaMLWritable):
    """Builds one nearkit index shard per partition of a DataFrame (io.nearkit.spark.NearkitKnn)."""

    idCol = Param(Params._dummy(), "idCol", "the id column (bigint)", typeConverter=TypeConverters.toString)
    kind = Param(Params._dummy(), "kind", "the nearkit index kind", typeConverter=TypeConverters.toString)
    metric = Param(Params._dummy(), "metric", "the metric", typeConverter=TypeConverters.toString)
    buildParams = Param(Params._dummy(), "buildParams", "the kind's build parameters by name",
                        typeConverter=_to_string_map)
    numShards = Param(Params._dummy(), "numShards", "shards to build; 0: one per partition",
                      typeConverter=TypeConverters.toInt)
    seed = Param(Params._dummy(), "seed", "the seed of randomised builds", typeConverter=TypeConverters.toInt)

    @keyword_only
    def __init__(self, *, idCol: Optional[str] = None, featuresCol: Optional[str] = None,
                 kind: Optional[str] = None, metric: Optional[str] = None,
                 buildParams: Optional[Dict[str, Any]] = None, numShards: Optional[int] = None,
                 seed: Optional[int] = None, k: Optional[int] = None, neighborsCol: Optional[str] = None,
                 distancesCol: Optional[str] = None, searchParams: Optional[Dict[str, Any]] = None,
                 numThreads: Optional[int] = None, queryBatchSize: Optional[int] = None) -> None:
        super().__init__()
        self._java_obj = self._new_java_obj(f"{_JVM_PACKAGE}.NearkitKnn", self.uid)
        self._transfer_params_from_java()  # the JVM class's defaults are the defaults here
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def setIdCol(self, value: str) -> "NearkitKnn":
        return self._set(idCol=value)

    def setKind(self, value: str) -> "NearkitKnn":
        return self._set(kind=value)

    def setMetric(self, value: str) -> "NearkitKnn":
        return self._set(metric=value)

    def setBuildParams(self, value: Dict[str, Any]) -> "NearkitKnn":
        return self._set(buildParams=value)

    def setNumShards(self, value: int) -> "NearkitKnn":
        return self._set(numShards=value)

    def setSeed(self, value: int) -> "NearkitKnn":
        return self._set(seed=value)

    def _create_model(self, java_model: Any) -> "NearkitKnnModel":
        return NearkitKnnModel._wrap(java_model)

    @classmethod
    def read(cls) -> _Reader:
        return _Reader(cls)

    @classmethod
    def _wrap(cls, java_obj: Any) -> "NearkitKnn":
        est = cls()
        est._java_obj = java_obj
        est._resetUid(java_obj.uid())
        est._transfer_params_from_java()
        return est

    def _java(self) -> Any:
        """The JVM estimator with this object's parameters."""
        self._transfer_params_to_java()
        return self._java_obj


class NearkitKnnModel(JavaModel, _KnnParams, JavaMLReadable, JavaMLWritable):
    """The fitted shards (io.nearkit.spark.NearkitKnnModel); ``transform`` adds the k nearest."""

    viewShards = Param(Params._dummy(), "viewShards",
                       "view the shard files on the executors where the model was saved to or "
                       "loaded from a file: path (default true); false ships the shards' bytes",
                       typeConverter=TypeConverters.toBoolean)

    def setViewShards(self, value: bool) -> "NearkitKnnModel":
        return self._set(viewShards=value)

    def viewsShardFiles(self) -> bool:
        """Whether ``transform`` opens the shard files as read-only views on the executors (set,
        and the model saved to or loaded from a ``file:`` path) rather than shipping their bytes."""
        self._transfer_params_to_java()
        return bool(self._java_obj.viewsShardFiles())

    @classmethod
    def _wrap(cls, java_obj: Any) -> "NearkitKnnModel":
        model = cls(java_obj)
        model._resetUid(java_obj.uid())
        model._transfer_params_from_java()
        return model

    @classmethod
    def read(cls) -> _Reader:
        return _Reader(cls)

    def numShards(self) -> int:
        return int(self._call_java("numShards"))

    def count(self) -> int:
        return int(self._call_java("count"))

    def shardCounts(self) -> list:
        return list(self._java_obj.shardCounts())

    def shardMemoryBytes(self) -> list:
        """Native memory of each shard once opened: what spark.executor.memoryOverhead must hold."""
        return list(self._java_obj.shardMemoryBytes())

    def release(self) -> None:
        """Closes the shards the executors opened; the model cannot search afterwards."""
        self._java_obj.release()


def _joins(df: DataFrame) -> Any:
    jvm = df.sparkSession.sparkContext._jvm
    return getattr(jvm, _JVM_PACKAGE).NearkitJoins


def knn_graph(df: DataFrame, estimator: NearkitKnn, k: int) -> DataFrame:
    """The k-NN graph of ``df`` (NearkitJoins.knnGraph): each row with its k nearest other rows."""
    return DataFrame(_joins(df).knnGraph(df._jdf, estimator._java(), int(k)), df.sparkSession)


def knn_join(left: DataFrame, right: DataFrame, estimator: NearkitKnn, k: int) -> DataFrame:
    """Each row of ``left`` with its k nearest rows of ``right`` (NearkitJoins.knnJoin): ``left``'s
    columns, ``rank``, ``distance`` and ``neighbor`` (a struct of the right row)."""
    return DataFrame(_joins(left).knnJoin(left._jdf, right._jdf, estimator._java(), int(k)),
                     left.sparkSession)
