using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Generation;
using PolicyKit.Diffusion.Model;
using PolicyKit.Generated;

namespace PolicyKit.Diffusion.Tests.Reliability;

/// <summary>One tiny LLaDA checkpoint and its loaded model, shared by a test class (loading is the slow part).</summary>
public sealed class TinyModelFixture : IDisposable
{
    private readonly TempDir _dir = new();

    public TinyModelFixture()
    {
        TestModels.Write(_dir.Path, Layout.LLaDA, seed: 11);
        Model = DiffusionModel.Load(_dir.Path);
        Generator = new TextGenerator(Model);
    }

    public DiffusionModel Model { get; }

    public TextGenerator Generator { get; }

    public static ICachePolicy[] AllPolicies() =>
        PolicyKitPoliciesPolicyRegistry.Names.Select(n => PolicyKitPoliciesPolicyRegistry.Create(n)).ToArray();

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}

/// <summary>A cache policy that counts its plans: zero plans means no forward pass ran through it.</summary>
internal sealed class CountingPolicy(ICachePolicy inner) : ICachePolicy
{
    private int _plans;

    public int Plans => Volatile.Read(ref _plans);
    public string Name => inner.Name;
    public bool UsesCache => true;
    public IReadOnlyList<PolicyParameter> Parameters => inner.Parameters;

    public LayerPlan Plan(in StepContext context)
    {
        Interlocked.Increment(ref _plans);
        return inner.Plan(in context);
    }
}
