package dev.featurestream.flink;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.function.Supplier;

/**
 * The Confluent-compatible schema registry over HTTP, as the {@code featurestream-avro} format's
 * decoder and encoder use it: one request at a time, basic auth optional, and a retry loop for
 * outages (unreachable or 5xx), which are never the record's fault.
 */
final class RegistryHttp {

    private static final Logger LOG = LoggerFactory.getLogger(RegistryHttp.class);
    private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
    private static final long FIRST_BACKOFF_MILLIS = 100;
    private static final long MAX_BACKOFF_MILLIS = 5_000;

    /** Thrown for an outage: the registry was unreachable or answered 5xx. */
    static final class Unavailable extends IllegalStateException {
        Unavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final String baseUrl;
    private final String authorization; // "Basic ..." header, or null without basic auth
    private HttpClient http;

    /** {@code userInfo} is {@code <user>:<password>} for basic auth, or null/empty. */
    RegistryHttp(String baseUrl, String userInfo) {
        this.baseUrl = ConfluentAvro.stripSlash(baseUrl);
        this.authorization =
                userInfo == null || userInfo.isEmpty()
                        ? null
                        : "Basic "
                                + Base64.getEncoder()
                                        .encodeToString(userInfo.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * One request; the response (any 2xx or 4xx status: the caller decides).
     *
     * @throws Unavailable unreachable, or a 5xx answer
     */
    HttpResponse<String> send(String method, String path, String jsonBody) {
        if (http == null) {
            http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        }
        URI uri = URI.create(baseUrl + path);
        HttpRequest.Builder request =
                HttpRequest.newBuilder(uri)
                        .timeout(Duration.ofSeconds(30))
                        .method(
                                method,
                                jsonBody == null
                                        ? HttpRequest.BodyPublishers.noBody()
                                        : HttpRequest.BodyPublishers.ofString(jsonBody));
        if (jsonBody != null) {
            request.header("Content-Type", CONTENT_TYPE);
        }
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        HttpResponse<String> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new Unavailable("schema registry unreachable at " + uri, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted calling " + uri, e);
        }
        if (response.statusCode() >= 500) {
            throw new Unavailable(
                    "schema registry answered HTTP " + response.statusCode() + " for " + uri, null);
        }
        return response;
    }

    /**
     * {@code call}'s result, retrying outages with backoff (100 ms doubling to 5 s) for up to
     * {@code timeoutMillis}; then the last outage is thrown.
     */
    static <T> T withRetry(Supplier<T> call, long timeoutMillis, Runnable onRetry, String what) {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        long backoff = FIRST_BACKOFF_MILLIS;
        for (int attempt = 1; ; attempt++) {
            try {
                return call.get();
            } catch (Unavailable e) {
                if (System.nanoTime() - deadline >= 0) {
                    throw new IllegalStateException(
                            e.getMessage() + " (retried for " + timeoutMillis + " ms)", e);
                }
                onRetry.run();
                LOG.warn(
                        "{}: registry call failed (attempt {}), retrying in {} ms: {}",
                        what,
                        attempt,
                        backoff,
                        e.getMessage());
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted waiting for the registry", e);
                }
                backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
            }
        }
    }
}
