# memworker: one image for memworker, memsearch and memctl.
# Build stage: the same scripts/setup.sh and CMake commands the tests run.
FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN bash scripts/setup.sh \
 && cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMW_TESTS=OFF \
 && cmake --build build/release -j"$(nproc)" \
 && cmake --install build/release --prefix /opt/memworker

# Runtime: only the shared libraries the binaries link.
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libevent-2.1-7 libevent-core-2.1-7 \
      libevent-extra-2.1-7 libcurl4 libjansson4 libsqlite3-0 libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin memworker
COPY --from=build /usr/local/lib/libhiredis*.so* /usr/local/lib/
COPY --from=build /opt/memworker/bin/ /usr/local/bin/
RUN ldconfig
USER memworker
ENV MEM0_METRICS_ADDR=0.0.0.0:9464
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["memworker"]
