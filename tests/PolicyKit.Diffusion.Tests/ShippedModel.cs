using PolicyKit.Diffusion.Model;

namespace PolicyKit.Diffusion.Tests;

/// <summary>
/// The shipped checkpoint (models/policykit-ref), loaded once per test class that uses it. It answers transform prompts
/// exactly and confidently, so token-level assertions on it hold on any CPU, where those on a random model's
/// near-tied logits do not.
/// </summary>
public sealed class ShippedModel : IDisposable
{
    public ShippedModel() => Model = DiffusionModel.Load(Path.Combine(RepositoryRoot(), "models", "policykit-ref"));

    public DiffusionModel Model { get; }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PolicyKit.sln"))) return dir.FullName;
        throw new InvalidOperationException("PolicyKit.sln not found above " + AppContext.BaseDirectory);
    }

    public void Dispose() => Model.Dispose();
}
