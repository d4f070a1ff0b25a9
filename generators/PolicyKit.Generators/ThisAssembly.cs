namespace PolicyKit.Generators;

internal static class ThisAssembly
{
    /// <summary>Written into [GeneratedCode]; kept constant so generated text does not change between builds.</summary>
    public const string Version = "0.1.0";
}
