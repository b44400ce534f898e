#!/usr/bin/env bash
# Setup step of benchmarks/bench_distributed.py's Spark column (issue 16), and nothing else:
# `make test` never runs it and no test needs Spark.
#
#   - Debian's headless OpenJDK 17 (apt-get; root, or sudo when there is one),
#   - pyspark from PyPI into the project's venv (PYTHON=... to choose another interpreter),
#   - then a check: a local[1] SparkSession starts and fits one tiny LinearRegression.
#
# Usage:  bash benchmarks/setup_spark.sh         (from anywhere; idempotent)
# Without it the benchmark skips Spark and prints why.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
if [ ! -x "$PY" ]; then
    echo "setup_spark.sh: no Python at $PY (run 'make install' first, or set PYTHON=...)" >&2
    exit 1
fi

java_major() {  # the major version of the java on PATH, or nothing
    command -v java >/dev/null 2>&1 || return 0
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

# openjdk-17-jre-headless: pyspark 4 runs on Java 17; libopenblas0-pthread: the native
# libblas.so.3 that Spark's netlib loads (without it Spark falls back to its Java BLAS and
# would be handicapped; the benchmark runs it with OPENBLAS_NUM_THREADS=1)
missing=()
for pkg in openjdk-17-jre-headless libopenblas0-pthread; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "setup_spark.sh: need root (or sudo) for apt-get install ${missing[*]}" >&2
            exit 1
        }
        SUDO=sudo
    fi
    echo "== apt-get install ${missing[*]}"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "== Java: $(java -version 2>&1 | head -n 1)"
if [ "$(java_major)" != "17" ]; then
    echo "   (not 17 on PATH: the benchmark uses JAVA_HOME, else /usr/lib/jvm/java-17-openjdk-amd64)"
fi

if "$PY" -c "import pyspark" 2>/dev/null; then
    echo "== pyspark present: $("$PY" -c 'import pyspark; print(pyspark.__version__)')"
else
    echo "== pip install pyspark"
    # pyspark is not pinned in constraints.txt (a benchmark-only dependency, ~400 MB)
    "$PY" -m pip install pyspark
fi

echo "== check: a local Spark session fits a tiny LinearRegression"
if [ -z "${JAVA_HOME:-}" ] && [ -d /usr/lib/jvm/java-17-openjdk-amd64 ]; then
    export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
"$PY" - <<'EOF'
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import LinearRegression
from pyspark.sql import SparkSession

spark = (SparkSession.builder.master("local[1]").appName("sparsefit-setup-check")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.createDataFrame([(Vectors.dense([float(i)]), 2.0 * i + 1.0) for i in range(20)],
                           ["features", "label"])
m = LinearRegression(regParam=0.0).fit(df)
assert abs(m.coefficients[0] - 2.0) < 1e-6 and abs(m.intercept - 1.0) < 1e-6, m
print(f"Spark {spark.version} OK")
spark.stop()
EOF
