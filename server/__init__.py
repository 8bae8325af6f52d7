import os

# The engine's only BLAS calls are small matrix products (children sums: 150 × 150 at province scale). More BLAS
# threads than one only spin on the other cores, which the API's other workers and the dashboards need. It must
# be set before numpy loads, so here, where every entry point (`taishan`, the dashboard process) starts.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
