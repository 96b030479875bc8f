# polyfuse serving image, CPU only. It installs what `polyfuse serve` imports and nothing for training
# or reports (no tensorboard, matplotlib, torchmetrics, transformers, dev tools): polyfuse itself goes in
# with --no-deps, then the serving runtime below. tests/serving/test_serving_docker.py checks that this
# list is enough (a bundle is served with every left-out dependency made unimportable).
#
#   docker build -t polyfuse-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/my_model:/model:ro" polyfuse-serve
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# torch's CPU build first: a plain `pip install torch` would pull the multi-GB CUDA build
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.2,<3"

# serving runtime (keep in step with pyproject.toml: the core dependencies serving imports + the serve extra)
RUN pip install \
    "numpy>=1.24" "pandas>=2.0" "pyarrow>=14" "pydantic>=2.5" "pyyaml>=6" "tokenizers>=0.15" \
    "safetensors>=0.4" "pillow>=10" "soundfile>=0.12" "scipy>=1.10" "tqdm>=4.66" \
    "fastapi>=0.110" "uvicorn>=0.27" "httptools>=0.6" "uvloop>=0.19" "prometheus-client>=0.20" \
    "python-multipart>=0.0.9" "swagger-ui-py>=23"

COPY pyproject.toml README.md /src/
COPY polyfuse /src/polyfuse
RUN pip install --no-deps /src && rm -rf /src

RUN useradd --create-home --uid 10001 polyfuse
USER polyfuse
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready').status != 200)"
ENTRYPOINT ["polyfuse"]
CMD ["serve", "/model", "--host", "0.0.0.0", "--port", "8000", "--threads", "1"]
