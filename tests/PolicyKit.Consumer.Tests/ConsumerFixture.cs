using System.Globalization;
using System.Xml.Linq;

namespace PolicyKit.Consumer.Tests;

/// <summary>
/// Packs the libraries once per test run: their sources are copied from the repository (so nothing built outside the
/// run is used and the repository's own bin/obj are left alone) and packed with one <c>dotnet pack</c> into a
/// temporary folder feed, under a prerelease version unique to the run, so a package left in the global NuGet
/// cache by an earlier run can never be restored in place of the one just built.
/// </summary>
public sealed class ConsumerFixture : IDisposable
{
    /// <summary>The packed projects, as in the repository (the generator is packed inside PolicyKit).</summary>
    public static readonly string[] PackedProjects =
    [
        "generators/PolicyKit.Generators/PolicyKit.Generators.csproj",
        "src/PolicyKit/PolicyKit.csproj",
        "policies/PolicyKit.Policies/PolicyKit.Policies.csproj",
        "src/PolicyKit.Testing/PolicyKit.Testing.csproj",
        "src/PolicyKit.Diffusion/PolicyKit.Diffusion.csproj",
        "src/PolicyKit.Hosting/PolicyKit.Hosting.csproj",
        "src/PolicyKit.Templating/PolicyKit.Templating.csproj",
        "src/PolicyKit.AI/PolicyKit.AI.csproj",
    ];

    public static readonly string[] PackageIds = ["PolicyKit", "PolicyKit.Policies", "PolicyKit.Testing", "PolicyKit.Diffusion", "PolicyKit.Hosting", "PolicyKit.Templating", "PolicyKit.AI"];

    private static readonly string[] SourceFolders = ["src", "generators", "policies"];

    private static readonly string[] RootFiles = ["Directory.Build.props", "Directory.Packages.props", "nuget.config", "README.md", "PolicyKit.sln"];

    public static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(8);

    private readonly Lazy<ProcessResult> _pack;

    public ConsumerFixture()
    {
        RepositoryRoot = FindRepositoryRoot();
        Root = Path.Combine(Path.GetTempPath(), "policykit-consumer-" + Guid.NewGuid().ToString("N")[..12]);
        Version = "0.1.0-consumer." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "." + Environment.ProcessId;
        Directory.CreateDirectory(Root);
        _pack = new Lazy<ProcessResult>(Pack);
    }

    public string RepositoryRoot { get; }

    /// <summary>Temporary directory holding the source copy, the feed and the user projects.</summary>
    public string Root { get; }

    public string Version { get; }

    public string Feed => Path.Combine(Root, "feed");

    /// <summary>The pack, run on first use.</summary>
    public ProcessResult PackResult => _pack.Value;

    private ProcessResult Pack()
    {
        var source = Path.Combine(Root, "source");
        foreach (var file in RootFiles)
            File.Copy(Path.Combine(RepositoryRoot, file), Path.Combine(source, file).EnsureParent());
        // Whole source folders, so a project reference added to a packed project is there too.
        foreach (var folder in SourceFolders)
            CopySources(Path.Combine(RepositoryRoot, folder), Path.Combine(source, folder));

        // One pack for every library: a solution filter over the copied solution.
        var filter = Path.Combine(source, "packages.slnf");
        File.WriteAllText(filter, $$"""
            { "solution": { "path": "PolicyKit.sln", "projects": [ {{string.Join(", ", PackedProjects.Select(p => "\"" + p + "\""))}} ] } }
            """);
        return DotNet.Run(source, PackTimeout, "pack", filter, "-c", "Release", "-o", Feed,
            "-p:Version=" + Version, "-p:ContinuousIntegrationBuild=true", "--disable-build-servers", "-nodeReuse:false");
    }

    /// <summary>
    /// Writes a user project (the ConsumerApp sources next to the tests plus <paramref name="extraFiles"/>) with its own
    /// nuget.config: the repository's nuget.org source and the local feed, which alone serves PolicyKit*.
    /// </summary>
    public string WriteUserProject(string name, params (string Template, string FileName)[] extraFiles)
    {
        var template = Path.Combine(AppContext.BaseDirectory, "ConsumerApp");
        var directory = Path.Combine(Root, name);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "ConsumerApp.csproj"),
            File.ReadAllText(Path.Combine(template, "ConsumerApp.csproj.template")).Replace("$POLICYKIT_VERSION$", Version, StringComparison.Ordinal));
        foreach (var file in new[] { "Program.cs", "WindowPolicy.cs", "appsettings.json" })
            File.Copy(Path.Combine(template, file), Path.Combine(directory, file));
        foreach (var (templateName, fileName) in extraFiles)
            File.Copy(Path.Combine(template, templateName), Path.Combine(directory, fileName));
        // Empty props/targets stop MSBuild from importing any Directory.*.props found above the temp directory.
        File.WriteAllText(Path.Combine(directory, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(directory, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(directory, "Directory.Packages.props"), "<Project />");
        WriteNuGetConfig(Path.Combine(directory, "nuget.config"));
        return directory;
    }

    private void WriteNuGetConfig(string path)
    {
        var repository = XDocument.Load(Path.Combine(RepositoryRoot, "nuget.config"));
        var nugetOrg = repository.Descendants("packageSources").Elements("add")
            .FirstOrDefault(e => (string?)e.Attribute("key") == "nuget.org")?.Attribute("value")?.Value
            ?? "https://api.nuget.org/v3/index.json";
        var config = new XDocument(
            new XElement("configuration",
                new XElement("packageSources",
                    new XElement("clear"),
                    new XElement("add", new XAttribute("key", "nuget.org"), new XAttribute("value", nugetOrg)),
                    new XElement("add", new XAttribute("key", "local"), new XAttribute("value", Feed))),
                new XElement("packageSourceMapping",
                    new XElement("packageSource", new XAttribute("key", "local"),
                        new XElement("package", new XAttribute("pattern", "PolicyKit")),
                        new XElement("package", new XAttribute("pattern", "PolicyKit.*"))),
                    new XElement("packageSource", new XAttribute("key", "nuget.org"),
                        new XElement("package", new XAttribute("pattern", "*"))))));
        config.Save(path);
    }

    private static void CopySources(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            // Build outputs are never copied: the pack must build everything itself.
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
                continue;
            File.Copy(file, Path.Combine(to, relative).EnsureParent());
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "PolicyKit.sln")))
                return directory.FullName;
        }
        throw new InvalidOperationException($"PolicyKit.sln not found above {AppContext.BaseDirectory}.");
    }

    public void Dispose()
    {
        // Keep the run's files for a look after a failure when asked to.
        if (Environment.GetEnvironmentVariable("POLICYKIT_KEEP_CONSUMER") != "1")
        {
            TryDelete(Root);
            // The unique version is never restored again: do not let each run leave ~1 MB in the global cache.
            var globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (var id in PackageIds)
                TryDelete(Path.Combine(globalPackages, id.ToLowerInvariant(), Version));
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

internal static class PathExtensions
{
    /// <summary>Creates the file's directory and returns the path.</summary>
    public static string EnsureParent(this string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}
