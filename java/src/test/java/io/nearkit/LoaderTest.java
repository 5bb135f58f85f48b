package io.nearkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The native loader: platform names, resource paths, and a clear error on an unknown platform. */
class LoaderTest {
    @Test
    void platformNames() {
        assertEquals("linux", NativeLib.osName("Linux"));
        assertEquals("macos", NativeLib.osName("Mac OS X"));
        assertEquals("windows", NativeLib.osName("Windows 11"));
        assertEquals("freebsd", NativeLib.osName("FreeBSD"));
        assertEquals("x86_64", NativeLib.archName("amd64"));
        assertEquals("x86_64", NativeLib.archName("x86_64"));
        assertEquals("aarch64", NativeLib.archName("arm64"));
        assertEquals("aarch64", NativeLib.archName("aarch64"));
        assertEquals("riscv64", NativeLib.archName("riscv64"));
        assertEquals("/io/nearkit/native/" + Nearkit.platform() + "/" + System.mapLibraryName("nearkit_jni"),
                NativeLib.resourcePath(Nearkit.platform()));
        assertTrue(NativeLib.class.getResource(NativeLib.resourcePath(Nearkit.platform())) != null,
                "the library for this platform is a resource");
    }

    @Test
    void normalBuildHasNoCompanions() throws Exception {
        // The normal build links OpenBLAS in and ships no companion index; the portable jar
        // (ci/portable_jar.sh) does, and ci/check_portable_natives.sh loads from it.
        assertEquals(List.of(), NativeLib.companionNames(Nearkit.platform()));
        assertEquals("/io/nearkit/native/" + Nearkit.platform() + "/libs.txt",
                NativeLib.companionIndexPath(Nearkit.platform()));
    }

    /** Main of the child JVM: tries the library and prints what happened. */
    public static void main(String[] args) {
        try {
            System.out.println("loaded " + Nearkit.version());
        } catch (UnsatisfiedLinkError e) {
            System.out.println("error " + e.getMessage());
            try {
                Nearkit.kinds();
            } catch (UnsatisfiedLinkError again) {
                System.out.println("again " + again.getMessage());
            }
        }
    }

    private static String child(String... props) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        for (String p : props) {
            cmd.add(p);
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(LoaderTest.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    void unknownPlatformIsNamed() throws Exception {
        String out = child("-Dos.arch=riscv64");
        assertTrue(out.startsWith("error nearkit: no native library for platform 'linux-riscv64'")
                || out.startsWith("error nearkit: no native library for platform '"), out);
        assertTrue(out.contains("riscv64"), out);
        assertTrue(out.contains("again "), "later calls fail the same way: " + out);
    }

    @Test
    void explicitLibraryPath() throws Exception {
        String extracted = NativeLib.class.getResource(NativeLib.resourcePath(Nearkit.platform())).getPath();
        String out = child("-Dnearkit.native.library=" + new File(extracted).getAbsolutePath());
        assertTrue(out.startsWith("loaded "), out);
        String bad = child("-Dnearkit.native.library=/nonexistent/libnearkit_jni.so");
        assertTrue(bad.startsWith("error "), bad);
    }

    @Test
    void tmpdirOverride() throws Exception {
        String dir = Paths.get(System.getProperty("java.io.tmpdir"), "nearkit-loader-test").toString();
        String out = child("-Dnearkit.native.tmpdir=" + dir);
        assertTrue(out.startsWith("loaded "), out);
    }
}
