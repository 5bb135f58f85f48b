package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the nearkit CLI: NEARKIT_CLI from the environment, else the one built beside the library. */
final class Cli {
    private Cli() {
    }

    static Path path() throws IOException {
        String env = System.getenv("NEARKIT_CLI");
        if (env != null && !env.isEmpty()) {
            return Paths.get(env);
        }
        String pathFile = System.getProperty("nearkit.cli.pathfile");
        if (pathFile != null && Files.isRegularFile(Paths.get(pathFile))) {
            return Paths.get(Files.readString(Paths.get(pathFile)).trim());
        }
        fail("the nearkit CLI was not found: set NEARKIT_CLI or build it (mvn process-classes does)");
        return null;
    }

    /** Runs the CLI and returns its standard output; fails the test on a non-zero exit. */
    static String run(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(path().toString());
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("NEARKIT_PROGRESS", "0");
        Path err = Files.createTempFile("nearkit-cli-", ".err");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("CLI timed out: " + cmd);
        }
        String stderr = Files.readString(err);
        Files.deleteIfExists(err);
        assertEquals(0, p.exitValue(), "CLI failed: " + cmd + "\n" + stderr);
        return new String(out, StandardCharsets.UTF_8);
    }
}
