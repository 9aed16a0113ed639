package dev.opentrail.cpl;

import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration;
import com.amazonaws.services.cloudtrail.processinglibrary.AWSCloudTrailProcessingExecutor;
import com.amazonaws.services.cloudtrail.processinglibrary.configuration.ClientConfiguration;
import com.amazonaws.services.cloudtrail.processinglibrary.exceptions.ProcessingLibraryException;
import com.amazonaws.services.cloudtrail.processinglibrary.interfaces.EventsProcessor;
import com.amazonaws.services.cloudtrail.processinglibrary.interfaces.ExceptionHandler;
import com.amazonaws.services.cloudtrail.processinglibrary.interfaces.ProgressReporter;
import com.amazonaws.services.cloudtrail.processinglibrary.model.CloudTrailEvent;
import com.amazonaws.services.cloudtrail.processinglibrary.model.LogDeliveryInfo;
import com.amazonaws.services.cloudtrail.processinglibrary.model.SQSBasedSource;
import com.amazonaws.services.cloudtrail.processinglibrary.progress.ProgressInfo;
import com.amazonaws.services.cloudtrail.processinglibrary.progress.ProgressSourceInfo;
import com.amazonaws.services.cloudtrail.processinglibrary.progress.ProgressState;
import com.amazonaws.services.cloudtrail.processinglibrary.progress.ProgressStatus;
import com.amazonaws.services.s3.AmazonS3;
import com.amazonaws.services.s3.AmazonS3ClientBuilder;
import com.amazonaws.services.sqs.AmazonSQS;
import com.amazonaws.services.sqs.AmazonSQSClientBuilder;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Reads CloudTrail log files the way AWS's own consumers do: the CloudTrail Processing Library
 * 1.1.3 polls an SQS queue subscribed to the trail's SNS topic, downloads each announced object
 * from S3, parses it and hands every record to an {@link EventsProcessor}.
 *
 * <p>Everything is written down for the Python test to judge (nothing is asserted here):
 * <ul>
 *   <li>{@code events.jsonl}: one line per record CPL handed over: bucket, key, the eventID CPL
 *       parsed, and the record's raw JSON text (CPL's {@code enableRawEventInfo});</li>
 *   <li>{@code failures.jsonl}: every call of the exception handler and every progress step that
 *       ended unsuccessfully;</li>
 *   <li>{@code summary.json}: counts, and whether the run ended by its deadline.</li>
 * </ul>
 *
 * <p>The run stops once {@code --expect-messages} distinct SQS messages went through CPL's
 * "process source" step, nothing is in progress, and no step started for {@code --quiet-secs}; or
 * at {@code --timeout-secs} (exit code 3).
 *
 * <p>Usage: {@code java -cp ... dev.opentrail.cpl.CplConsumer --endpoint URL --queue-url URL
 * --out DIR --expect-messages N [--timeout-secs S] [--quiet-secs Q] [--threads T]}
 */
public final class CplConsumer {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Object lock = new Object();
    private final BufferedWriter events;
    private final BufferedWriter failures;
    private final Set<String> endedMessages = new HashSet<>();
    private int sourcesInFlight;
    private int sourcesOk;
    private int sourcesFailed;
    private long eventCount;
    private long failureCount;
    private long lastActivityNanos = System.nanoTime();

    private CplConsumer(Path out) throws IOException {
        Files.createDirectories(out);
        events = Files.newBufferedWriter(out.resolve("events.jsonl"), StandardCharsets.UTF_8);
        failures = Files.newBufferedWriter(out.resolve("failures.jsonl"), StandardCharsets.UTF_8);
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parseArgs(argv);
        String endpoint = required(args, "endpoint");
        String queueUrl = required(args, "queue-url");
        Path out = Path.of(required(args, "out"));
        int expect = Integer.parseInt(required(args, "expect-messages"));
        double timeoutSecs = Double.parseDouble(args.getOrDefault("timeout-secs", "120"));
        double quietSecs = Double.parseDouble(args.getOrDefault("quiet-secs", "2"));
        int threads = Integer.parseInt(args.getOrDefault("threads", "2"));

        BasicAWSCredentials keys = new BasicAWSCredentials(
                envOr("AWS_ACCESS_KEY_ID", "testing"), envOr("AWS_SECRET_ACCESS_KEY", "testing"));
        AWSStaticCredentialsProvider credentials = new AWSStaticCredentialsProvider(keys);
        EndpointConfiguration at = new EndpointConfiguration(endpoint, "us-east-1");
        AmazonS3 s3 = AmazonS3ClientBuilder.standard()
                .withEndpointConfiguration(at)
                .withPathStyleAccessEnabled(true)
                .withCredentials(credentials)
                .build();
        AmazonSQS sqs = AmazonSQSClientBuilder.standard()
                .withEndpointConfiguration(at)
                .withCredentials(credentials)
                .build();

        ClientConfiguration config = new ClientConfiguration(queueUrl, credentials);
        config.setEnableRawEventInfo(true);
        config.setThreadCount(threads);
        config.setThreadTerminationDelaySeconds(1);
        // maxEventsPerEmit stays at CPL's default (1): each record is handed over on its own.

        CplConsumer consumer = new CplConsumer(out);
        AWSCloudTrailProcessingExecutor executor =
                new AWSCloudTrailProcessingExecutor.Builder(consumer.processor(), config)
                        .withS3Client(s3)
                        .withSQSClient(sqs)
                        .withProgressReporter(consumer.reporter())
                        .withExceptionHandler(consumer.handler())
                        .build();

        long start = System.nanoTime();
        long deadline = start + (long) (timeoutSecs * 1e9);
        executor.start();
        boolean timedOut = false;
        while (!consumer.done(expect, (long) (quietSecs * 1e9))) {
            if (System.nanoTime() > deadline) {
                timedOut = true;
                break;
            }
            Thread.sleep(100);
        }
        executor.stop();
        int code = consumer.finish(out, timedOut, expect, (System.nanoTime() - start) / 1_000_000);
        // CPL's poller may still sit in a 20 s long poll: end the JVM without waiting for it.
        System.exit(code);
    }

    /** True when `expect` messages were processed, nothing is in flight and all is quiet. */
    private boolean done(int expect, long quietNanos) {
        synchronized (lock) {
            return endedMessages.size() >= expect
                    && sourcesInFlight == 0
                    && System.nanoTime() - lastActivityNanos >= quietNanos;
        }
    }

    private int finish(Path out, boolean timedOut, int expect, long elapsedMs) throws IOException {
        synchronized (lock) {
            events.close();
            failures.close();
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("expectedMessages", expect);
            summary.put("messagesProcessed", endedMessages.size());
            summary.put("sourcesOk", sourcesOk);
            summary.put("sourcesFailed", sourcesFailed);
            summary.put("sourcesInFlight", sourcesInFlight);
            summary.put("events", eventCount);
            summary.put("failures", failureCount);
            summary.put("timedOut", timedOut);
            summary.put("elapsedMs", elapsedMs);
            JSON.writeValue(out.resolve("summary.json").toFile(), summary);
            return timedOut ? 3 : 0;
        }
    }

    /** Writes each record CPL hands over: its log file, the eventID CPL parsed, its raw text. */
    private EventsProcessor processor() {
        return (List<CloudTrailEvent> batch) -> {
            synchronized (lock) {
                for (CloudTrailEvent e : batch) {
                    Map<String, Object> line = new LinkedHashMap<>();
                    Object meta = e.getEventMetadata();
                    if (meta instanceof LogDeliveryInfo) {
                        LogDeliveryInfo info = (LogDeliveryInfo) meta;
                        line.put("bucket", info.getLog().getS3Bucket());
                        line.put("key", info.getLog().getS3ObjectKey());
                        line.put("raw", info.getRawEvent());
                    } else {
                        line.put("metadata", String.valueOf(meta));
                    }
                    UUID id = e.getEventData().getEventId();
                    line.put("eventID", id == null ? null : id.toString());
                    writeLine(events, line);
                    eventCount++;
                }
                lastActivityNanos = System.nanoTime();
            }
        };
    }

    /** Records every exception CPL reports (including uncaught ones in its thread pool). */
    private ExceptionHandler handler() {
        return (ProcessingLibraryException e) -> {
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("kind", "exception");
            ProgressStatus status = e.getStatus();
            line.put("state", status == null ? null : String.valueOf(status.getProgressState()));
            line.put("message", e.getMessage());
            line.put("info", status == null ? null : String.valueOf(status.getProgressInfo()));
            line.put("cause", e.getCause() == null ? null : stackTrace(e.getCause()));
            synchronized (lock) {
                writeLine(failures, line);
                failureCount++;
                lastActivityNanos = System.nanoTime();
            }
        };
    }

    /** Counts "process source" steps per SQS message and records every unsuccessful step. */
    private ProgressReporter reporter() {
        return new ProgressReporter() {
            @Override
            public Object reportStart(ProgressStatus status) {
                if (status.getProgressState() == ProgressState.processSource) {
                    synchronized (lock) {
                        sourcesInFlight++;
                        lastActivityNanos = System.nanoTime();
                    }
                }
                return null;
            }

            @Override
            public void reportEnd(ProgressStatus status, Object startObject) {
                ProgressInfo info = status.getProgressInfo();
                boolean ok = info != null && info.isSuccess();
                synchronized (lock) {
                    lastActivityNanos = System.nanoTime();
                    if (status.getProgressState() == ProgressState.processSource) {
                        sourcesInFlight--;
                        if (ok) {
                            sourcesOk++;
                        } else {
                            sourcesFailed++;
                        }
                        if (info instanceof ProgressSourceInfo
                                && ((ProgressSourceInfo) info).getSource() instanceof SQSBasedSource) {
                            SQSBasedSource src = (SQSBasedSource) ((ProgressSourceInfo) info).getSource();
                            endedMessages.add(src.getSqsMessage().getMessageId());
                        }
                    }
                    if (!ok) {
                        Map<String, Object> line = new LinkedHashMap<>();
                        line.put("kind", "progress");
                        line.put("state", String.valueOf(status.getProgressState()));
                        line.put("info", String.valueOf(info));
                        writeLine(failures, line);
                        failureCount++;
                    }
                }
            }
        };
    }

    private static void writeLine(BufferedWriter w, Map<String, Object> line) {
        try {
            w.write(JSON.writeValueAsString(line));
            w.write('\n');
            w.flush();
        } catch (IOException e) {
            throw new IllegalStateException("cannot write results", e);
        }
    }

    private static String stackTrace(Throwable t) {
        StringWriter s = new StringWriter();
        t.printStackTrace(new PrintWriter(s));
        return s.toString();
    }

    private static Map<String, String> parseArgs(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                throw new IllegalArgumentException("expected --name value pairs, got " + argv[i]);
            }
            args.put(argv[i].substring(2), argv[++i]);
        }
        return args;
    }

    private static String required(Map<String, String> args, String name) {
        String v = args.get(name);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return v;
    }

    private static String envOr(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }
}
