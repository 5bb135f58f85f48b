package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every {@code java} block of java/README.md appears verbatim (indentation aside) in
 * examples/.../ReadmeExample.java, which the ctest java_example compiles against the installed jar
 * and runs: so the README's code compiles and runs as printed.
 */
class ReadmeTest {
    private static final Path JAVA_DIR = Path.of(System.getProperty("basedir", "."));

    /** The lines of each fenced {@code java} block, stripped of leading whitespace. */
    private static List<String> javaBlocks(List<String> lines) {
        List<String> blocks = new ArrayList<>();
        StringBuilder block = null;
        for (String line : lines) {
            if (block == null && line.trim().equals("```java")) {
                block = new StringBuilder();
            } else if (block != null && line.trim().equals("```")) {
                blocks.add(block.toString());
                block = null;
            } else if (block != null) {
                block.append(line.strip()).append('\n');
            }
        }
        return blocks;
    }

    @Test
    void readmeSnippetsAreTheExample() throws IOException {
        List<String> readme = Files.readAllLines(JAVA_DIR.resolve("README.md"));
        List<String> blocks = javaBlocks(readme);
        assertFalse(blocks.isEmpty(), "no java block in README.md");
        StringBuilder example = new StringBuilder();
        for (String line : Files.readAllLines(
                JAVA_DIR.resolve("examples/src/main/java/io/nearkit/examples/ReadmeExample.java"))) {
            example.append(line.strip()).append('\n');
        }
        for (String block : blocks) {
            assertTrue(example.indexOf(block) >= 0,
                    "README.md's java block is not in ReadmeExample.java verbatim:\n" + block);
        }
    }
}
