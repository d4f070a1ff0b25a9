using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using PolicyKit.Generators.Diagnostics;
using PolicyKit.Generators.Emitting;
using PolicyKit.Generators.Model;
using PolicyKit.Generators.Parsing;

namespace PolicyKit.Generators;

/// <summary>
/// Turns <c>[CachePolicy]</c> classes into <c>ICachePolicy</c> implementations, one registry per compilation and
/// the DI registration helper. Pipeline: <see cref="PolicyParser"/> (symbols → equatable <see cref="PolicyDeclaration"/>)
/// → emitters (model → source); diagnostics travel as <see cref="DiagnosticInfo"/> values beside the models.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class PolicyGenerator : IIncrementalGenerator
{
    /// <summary>Names of the tracked pipeline steps, for incremental-cacheability tests.</summary>
    public static class Steps
    {
        public const string Declarations = "PolicyDeclarations";
        public const string Models = "PolicyModels";
        public const string Names = "PolicyNames";
        public const string Facts = "CompilationFacts";
        public const string Registry = "RegistryInput";
        public const string RulesWithoutPolicy = "RulesWithoutPolicy";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var declarations = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeNames.CachePolicy,
                static (node, _) => node is TypeDeclarationSyntax,
                PolicyParser.Parse)
            .WithTrackingName(Steps.Declarations);

        context.RegisterSourceOutput(declarations.Select(static (d, _) => d.Diagnostics), ReportAll);

        var models = declarations
            .Where(static d => d.Model is not null)
            .Select(static (d, _) => d.Model!)
            .WithTrackingName(Steps.Models);

        context.RegisterSourceOutput(models, static (spc, model) => spc.AddSource(model.HintName, PolicyEmitter.Emit(model)));

        // Duplicate names are a property of the whole compilation: gather (name, location) pairs only, so
        // edits elsewhere in a policy do not rerun the check.
        var names = declarations
            .Select(static (d, _) => (d.PolicyName, d.NameLocation))
            .Collect()
            .Select(static (all, _) => FindDuplicateNames(all))
            .WithTrackingName(Steps.Names);
        context.RegisterSourceOutput(names, ReportAll);

        var facts = context.CompilationProvider
            .Select(static (compilation, _) => new CompilationFacts(
                compilation.AssemblyName ?? "Assembly",
                compilation.GetTypeByMetadataName("Microsoft.Extensions.DependencyInjection.Extensions.ServiceCollectionDescriptorExtensions") is { } extensions
                    && extensions.GetMembers("TryAddKeyedSingleton").Length > 0))
            .WithTrackingName(Steps.Facts);

        var registryInput = models
            .Collect()
            .Select(static (all, _) => UniqueByName(all))
            .Combine(facts)
            .WithTrackingName(Steps.Registry);

        context.RegisterSourceOutput(registryInput, static (spc, input) =>
        {
            var (policies, compilationFacts) = input;
            if (policies.Count == 0)
                return;
            spc.AddSource("PolicyKit.PolicyRegistry.g.cs", RegistryEmitter.EmitRegistry(compilationFacts, policies));
            if (compilationFacts.HasKeyedDependencyInjection)
                spc.AddSource("PolicyKit.PolicyServiceCollectionExtensions.g.cs", RegistryEmitter.EmitServiceCollectionExtensions(compilationFacts, policies));
        });

        foreach (string rule in AttributeNames.Rules)
        {
            var orphans = context.SyntaxProvider
                .ForAttributeWithMetadataName(rule, static (node, _) => node is TypeDeclarationSyntax, PolicyParser.FindRulesWithoutPolicy)
                .WithTrackingName(Steps.RulesWithoutPolicy);
            context.RegisterSourceOutput(orphans, ReportAll);
        }
    }

    private static void ReportAll(SourceProductionContext context, EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
            context.ReportDiagnostic(PolicyDiagnostics.ToDiagnostic(diagnostic));
    }

    private static EquatableArray<DiagnosticInfo> FindDuplicateNames(ImmutableArray<(string Name, LocationInfo? Location)> declarations)
    {
        var firstByName = new Dictionary<string, LocationInfo?>();
        var diagnostics = new List<DiagnosticInfo>();
        foreach (var (name, location) in declarations)
        {
            if (name.Length == 0)
                continue; // PK0012 already reported
            if (firstByName.TryGetValue(name, out var first))
            {
                string where = first is null ? "another policy" : $"the policy at {System.IO.Path.GetFileName(first.FilePath)}({first.LineSpan.Start.Line + 1},{first.LineSpan.Start.Character + 1})";
                diagnostics.Add(DiagnosticInfo.Create(PolicyDiagnostics.DuplicatePolicyName, location, name, where));
            }
            else
            {
                firstByName.Add(name, location);
            }
        }
        return diagnostics.ToEquatableArray();
    }

    /// <summary>Registry entries ordered by name; a duplicate (already an error) keeps only its first declaration.</summary>
    private static EquatableArray<PolicyModel> UniqueByName(ImmutableArray<PolicyModel> models)
    {
        var seen = new HashSet<string>();
        return models.Where(m => seen.Add(m.PolicyName)).OrderBy(m => m.PolicyName, System.StringComparer.Ordinal).ToEquatableArray();
    }
}
